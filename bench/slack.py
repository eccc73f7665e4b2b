"""Slack acknowledgement latency under a sustained rate of events while the model takes 10 s a reply.

Slack retries any event not acknowledged within 3 s. Here a Coachline server with the Slack channel
(SQLite, a fake Slack Web API, a generator that needs 10 s for every reply) runs in its own process,
and this process POSTs signed direct-message events to `/webhooks/slack` at a fixed rate (open loop:
a slow answer does not slow the sender), measuring the time to each HTTP 200.

    python -m bench.slack            # 20, 50, 100, 150 ... 400 events/s, 4 s each, up to the first miss
    python -m bench.slack --quick    # 20, 50, 100, 200 events/s, 2.5 s each, up to the first miss
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.stats import Row, percentile

SECRET = "bench-signing-secret"
MODEL_SECONDS = 10.0
ACK_DEADLINE = 3.0
_MARK = "BENCH "
PROJECT = Path(__file__).resolve().parents[1]


async def run(quick: bool) -> list[Row]:
    """Ack latency p50/p99 at each rate, and the highest rate held with p99 under 3 s."""
    rates = (20, 50, 100, 200) if quick else (20, 50, 100, 150, 200, 250, 300, 400)
    seconds = 2.5 if quick else 4.0
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.slack",
        "--serve",
        cwd=PROJECT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    rows: list[Row] = []
    held: int | None = None
    tried = 0
    try:
        url = (await _read_marked(server))["url"]
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            await _sustain(client, rate=10, seconds=1.0, first_id=0)  # warm-up: connections, caches
            sent = 10
            for rate in rates:
                tried = rate
                latencies, achieved, failures = await _sustain(client, rate, seconds, first_id=sent)
                sent += len(latencies) + failures
                p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
                name = f"slack ack @ {rate} events/s"
                note = f"{len(latencies)} events over {seconds:g} s, sent at {achieved:.0f}/s"
                if failures:
                    note += f", {failures} not 200"
                rows.append(Row(name, "p50", f"{p50 * 1000:.1f} ms", note))
                rows.append(Row(name, "p99", f"{p99 * 1000:.1f} ms", f"model: {MODEL_SECONDS:g} s a reply"))
                if p99 >= ACK_DEADLINE or failures or achieved < 0.9 * rate:
                    break  # past the knee: higher rates only pile up a longer queue
                held = rate
        assert server.stdin is not None
        server.stdin.write(b"stop\n")
        await server.stdin.drain()
        final = await _read_marked(server)
    finally:
        if server.returncode is None:
            try:
                await asyncio.wait_for(server.wait(), timeout=30)
            except TimeoutError:
                server.kill()
                await server.wait()
    rows.append(
        Row(
            "slack ack",
            "rate held (p99 < 3 s)",
            f"{held}/s" if held is not None else "none",
            f"tried up to {tried}/s; {final['posts']} replies posted meanwhile, "
            f"{final['inbox']} events persisted",
        )
    )
    return rows


async def _sustain(
    client: httpx.AsyncClient, rate: float, seconds: float, first_id: int
) -> tuple[list[float], float, int]:
    """POST `rate` events a second for `seconds` (open loop); returns latencies, send rate, failures."""
    from tests.fakes.slack_server import dm_event, slack_request_headers

    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    failures = 0

    async def deliver(body: bytes, headers: dict[str, str]) -> None:
        nonlocal failures
        started = time.perf_counter()
        try:
            response = await client.post("/webhooks/slack", content=body, headers=headers)
        except httpx.HTTPError:
            failures += 1
            return
        if response.status_code == 200:
            latencies.append(time.perf_counter() - started)
        else:
            failures += 1

    count = int(rate * seconds)
    tasks = []
    start = loop.time()
    for index in range(count):
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        number = first_id + index
        # A workspace of 500 people writing in turn; every event is a new message (its own inbox row).
        user = f"U{number % 500:07d}"
        payload = dm_event(f"question {number}", user=user, ts=f"1700000000.{number:06d}")
        body = json.dumps(payload).encode()
        tasks.append(asyncio.create_task(deliver(body, slack_request_headers(SECRET, body))))
    sending_time = loop.time() - start
    await asyncio.gather(*tasks)
    return latencies, count / max(sending_time, 1e-9) if count > 1 else rate, failures


async def _read_marked(process: asyncio.subprocess.Process) -> dict[str, Any]:
    """The next line the server prints for us (it may print other things)."""
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=120)
        if not line:
            raise RuntimeError("the benchmark server exited early")
        text = line.decode().strip()
        if text.startswith(_MARK):
            result: dict[str, Any] = json.loads(text.removeprefix(_MARK))
            return result


async def _serve() -> None:
    """The server process: Coachline with the Slack channel, a fake Slack, a 10-second model."""
    from sqlalchemy import func, select

    from bot.app import create_app
    from bot.composition import build_service
    from bot.models import InboxMessage
    from channels.slack.adapter import SlackChannel
    from channels.slack.settings import SlackSettings
    from coaching.embeddings import HashingEmbedder
    from coaching.fake_generator import ScriptedGenerator
    from coaching.vector_store import InMemoryVectorStore
    from config import LLMMode, Settings
    from tests.fakes.slack_server import run_fake_slack
    from tests.support.asgi_server import serve_asgi

    with tempfile.TemporaryDirectory() as data_dir:
        async with run_fake_slack() as slack:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                data_dir=Path(data_dir),
                api_key="bench-admin-key",
                llm=LLMMode.OFFLINE,
                sender_rate=0.0,  # floods from few senders are the point; pacing: bench/fairness.py
                log_level="WARNING",
            )
            own = SlackSettings.of(bot_token=slack.bot_token, signing_secret=SECRET, api_url=slack.api_url)
            service = build_service(
                settings,
                channels={"slack": SlackChannel(own)},
                generator=ScriptedGenerator(delay_seconds=MODEL_SECONDS),
                embedder=HashingEmbedder(),
                vector_store=InMemoryVectorStore(),
                shutdown_grace_seconds=0.5,
            )
            async with serve_asgi(create_app(service)) as url:
                print(_MARK + json.dumps({"url": url}), flush=True)
                await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
                async with service.sessions() as session:
                    inbox = await session.scalar(select(func.count()).select_from(InboxMessage))
                print(_MARK + json.dumps({"posts": len(slack.posts), "inbox": inbox}), flush=True)


def main() -> None:
    """Run the benchmark and print its rows (`--serve` is the server half, started by `run`)."""
    parser = argparse.ArgumentParser(prog="python -m bench.slack", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rates, shorter phases")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        asyncio.run(_serve())
        return
    for row in asyncio.run(run(options.quick)):
        print(f"{row.benchmark:<28} {row.measure:<22} {row.value:>10}  {row.note}")


if __name__ == "__main__":
    main()
