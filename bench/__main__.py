"""Run every benchmark and print one table: `python -m bench` (`--quick` for a short run)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import (
    chat_roundtrip,
    embeddings,
    fairness,
    fanout,
    inbox_claims,
    ingestion,
    knowledge,
    responder,
    scale,
)
from bench import slack as slack_bench
from bench import sms as sms_bench
from bench import telegram as telegram_bench
from bench.stats import Row
from tests.support.databases import (
    POSTGRES_ADMIN_DB,
    POSTGRES_HOST,
    POSTGRES_PORT,
    POSTGRES_USER,
    postgres_available,
)


async def _all(quick: bool) -> list[Row]:
    requests = 60 if quick else 300
    rows = await chat_roundtrip.run(requests)
    if postgres_available():
        url = f"postgresql+asyncpg://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_ADMIN_DB}"
        rows += await chat_roundtrip.run(requests, database_url=url)
    rows += await embeddings.run(quick)
    rows += await knowledge.run(quick)
    rows += await ingestion.run(quick)
    rows += await scale.run(quick)
    rows += await responder.run(quick)
    rows += await fanout.run(quick)
    rows += await sms_bench.run(quick)
    rows += await slack_bench.run(quick)
    rows += await telegram_bench.run(quick)
    rows += await inbox_claims.run(quick)
    rows += await fairness.run(quick)
    return rows


def main() -> None:
    """Parse options, run, print, and save the rows to bench/results/latest.json."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    options = parser.parse_args()
    rows = asyncio.run(_all(options.quick))
    table = Table(
        title=f"Coachline benchmarks — {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores"
    )
    for column in ("benchmark", "measure", "value", "note"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.benchmark, row.measure, row.value, row.note)
    Console(width=120).print(table)
    results = Path(__file__).with_name("results")
    results.mkdir(exist_ok=True)
    (results / "latest.json").write_text(json.dumps([asdict(row) for row in rows], indent=2))


if __name__ == "__main__":
    main()
