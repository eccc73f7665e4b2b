"""Local chat round trip: `POST /api/v1/chat` through inbox, dispatcher, outbox and back, instant model.

Measures what Coachline itself adds to a reply: HTTP, persisting the message, claiming it, the
dispatcher, queueing and settling the reply — everything except the model, which answers at once.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from bench.stats import Row, percentile
from bot.app import create_app
from bot.composition import build_service
from channels.web import WebChannel
from coaching.fake_generator import ScriptedGenerator
from config import LLMMode, Settings, load_settings
from tests.support.asgi_server import serve_asgi

KEY = "bench-admin-key"


async def _measure(requests: int, concurrency: int, database_url: str | None) -> tuple[list[float], float]:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(data_dir),
            database_url=database_url or "",
            api_key=KEY,
            llm=LLMMode.OFFLINE,
            sender_rate=0.0,  # floods from few senders are the point; pacing: bench/fairness.py
            # The model provisioned once for the project, not downloaded again into each temporary dir.
            models_dir=load_settings().resolved_models_dir,
        )
        service = build_service(settings, channels={"web": WebChannel()}, generator=ScriptedGenerator())
        latencies: list[float] = []
        async with (
            serve_asgi(create_app(service)) as url,
            httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client,
        ):
            await client.post("/api/v1/chat", json={"user_id": "warmup", "text": "hi"})
            queue: asyncio.Queue[int] = asyncio.Queue()
            for index in range(requests):
                queue.put_nowait(index)

            async def user(worker: int) -> None:
                while not queue.empty():
                    index = queue.get_nowait()
                    started = time.perf_counter()
                    response = await client.post(
                        "/api/v1/chat", json={"user_id": f"user-{worker}", "text": f"question {index}"}
                    )
                    latencies.append(time.perf_counter() - started)
                    if response.json()["reply"] != f"echo: question {index}":
                        raise AssertionError(f"wrong reply: {response.text}")

            started = time.perf_counter()
            await asyncio.gather(*(user(worker) for worker in range(concurrency)))
            elapsed = time.perf_counter() - started
        return latencies, requests / elapsed


async def run(requests: int = 300, database_url: str | None = None) -> list[Row]:
    """Sequential and concurrent round trips; p50/p99 in milliseconds and throughput."""
    backend = "PostgreSQL" if database_url else "SQLite"
    rows: list[Row] = []
    for concurrency in (1, 8):
        latencies, rate = await _measure(requests, concurrency, database_url)
        name = f"chat round trip ({backend}, {concurrency} client{'s' if concurrency > 1 else ''})"
        rows.append(Row(name, "p50", f"{percentile(latencies, 0.5) * 1000:.1f} ms", f"{requests} requests"))
        rows.append(Row(name, "p99", f"{percentile(latencies, 0.99) * 1000:.1f} ms"))
        rows.append(Row(name, "throughput", f"{rate:.0f} replies/s"))
    return rows
