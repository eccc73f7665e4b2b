"""What one inbox claim costs as the backlog grows: `Inbox.claim(8)`, CPU per claim on SQLite, and
wall time on PostgreSQL (when one listens where the tests expect it; the server's work is in another
process).

Three shapes of backlog, each at 1,000 and 10,000 waiting messages (a growth column, as the scale
issue asks):

- fan-in: every message from a different person (a broadcast answered at once);
- flood: 50 people with many messages each, 8 of them with a message in hand;
- stuck: one person's messages only, with one in hand, so nothing can be claimed.

The claim walks the waiting messages in due order and stops once it has its 8, so fan-in and flood
cost about the same at any depth. A backlog whose every sender is busy (stuck) is the walk's worst
case: it reads every waiting row to find nothing, as the grouping the claim used before did.

    python -m bench.inbox_claims [--quick]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text, update

from bench.stats import Row, run_alone
from bot.foundation.clock import FakeClock
from bot.foundation.db import create_engine, session_factory
from bot.inbox import INBOX, Inbox
from tests.support.databases import fresh_database, postgres_available

BENCH = "Inbox claim of 8"
CLAIMS = 40
SHAPES = ("fan-in", "flood", "stuck")
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def backlog_rows(shape: str, waiting: int) -> list[dict[str, object]]:
    """The backlog's inbox rows; the messages in hand are held by another instance."""
    senders = {"fan-in": waiting, "flood": 50, "stuck": 1}[shape]
    in_hand = {"fan-in": 0, "flood": 8, "stuck": 1}[shape]
    rows: list[dict[str, object]] = []
    for index in range(waiting):
        sender = index % senders
        held = index < in_hand  # each of the first `in_hand` senders' oldest message
        rows.append(
            {
                "channel": "telegram",
                "external_id": f"{index}",
                "sender_id": f"{sender}",
                "conversation_ref": {"channel": "telegram", "chat_id": f"{sender}"},
                "text": f"question {index}",
                "attachments": [],
                "raw": {},
                "received_at": NOW,
                "due_at": NOW + timedelta(microseconds=index),
                "status": "processing" if held else "pending",
                "claimed_by": "another-instance" if held else None,
                "lease_expires_at": NOW + timedelta(minutes=5) if held else None,
                "attempts": 1 if held else 0,
            }
        )
    return rows


async def claim_cost(backend: str, shape: str, waiting: int, *, analysed: bool = True) -> tuple[float, int]:
    """Median milliseconds of a claim over `CLAIMS` claims (CPU on SQLite, wall time on PostgreSQL),
    and how many rows one took; the rows claimed are put back after each, so the backlog stays.

    With `analysed` False, PostgreSQL has no statistics of the backlog when the claims start: the
    inbox's own refresh (`bot.planner_statistics`) is what the median shows.
    """
    clock = time.process_time if backend == "sqlite" else time.perf_counter
    with tempfile.TemporaryDirectory() as data_dir:
        async with fresh_database(backend, Path(data_dir)) as url:
            engine = create_engine(url)
            try:
                async with engine.begin() as connection:
                    await connection.execute(insert(INBOX), backlog_rows(shape, waiting))
                if backend == "postgresql" and analysed:
                    # As autovacuum keeps a busy table: with no statistics yet, PostgreSQL's planner
                    # compares every waiting row with every other (140-290 ms a claim at 1,000).
                    async with engine.connect() as connection:
                        await connection.execute(text("ANALYZE inbox"))
                inbox = Inbox(session_factory(engine), FakeClock(NOW), instance_id="bench", lease_seconds=60)
                costs, taken = [], 0
                for _ in range(CLAIMS):
                    started = clock()
                    rows = await inbox.claim(8)
                    costs.append((clock() - started) * 1000)
                    taken = len(rows)
                    await inbox.statistics.wait()  # an analysis under way is not a claim's cost
                    async with engine.begin() as connection:
                        await connection.execute(
                            update(INBOX)
                            .where(INBOX.c.id.in_([row.id for row in rows]))
                            .values(status="pending", claimed_by=None, lease_expires_at=None, attempts=0)
                        )
                return statistics.median(costs), taken
            finally:
                await engine.dispose()


async def run(quick: bool) -> list[Row]:
    """A claim's cost for each shape of backlog at 1,000 and 10,000 waiting messages."""
    backends = [("sqlite", "SQLite, CPU", True)]
    if postgres_available():
        backends.append(("postgresql", "PostgreSQL, wall time, analyzed", True))
        backends.append(("postgresql", "PostgreSQL, wall time, no statistics at first", False))
    rows = []
    for backend, what, analysed in backends:
        for shape in SHAPES:
            small, taken = await claim_cost(backend, shape, 1_000, analysed=analysed)
            large, _ = await claim_cost(backend, shape, 10_000, analysed=analysed)
            rows.append(
                Row(
                    f"{BENCH} ({what})",
                    shape,
                    f"{small:.2f} / {large:.2f} ms",
                    f"1,000 / 10,000 waiting (growth ×{large / small:.1f}); {taken} claimed a claim",
                )
            )
    return rows


if __name__ == "__main__":
    run_alone(run, "python -m bench.inbox_claims", __doc__.splitlines()[0] if __doc__ else None)
