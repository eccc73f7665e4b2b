"""The fake Telegram Bot API in a process of its own, for throughput benchmarks.

Telegram does not run in our process: in the tests the fake shares the event loop (and the core) with
the code under test, which is what tests want, but a throughput benchmark would then charge the
fake's HTTP server to Coachline. Here it serves from a child process (`python -m
tests.fakes.telegram_process`, uvicorn with its fastest installed HTTP parser), and the parent reads
back what it received over HTTP.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from tests.fakes.telegram_server import ApiCall, FakeTelegram

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class RemoteFakeTelegram:
    """A fake Bot API served by a child process: its URL and token, and what it received."""

    url: str
    token: str

    async def calls_of(self, method: str) -> list[ApiCall]:
        """Every call of `method` the fake received, oldest first."""
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.get(f"/_fake/calls/{method}")
            response.raise_for_status()
        return [ApiCall(method, item["params"], item["at"], item["returned"]) for item in response.json()]


@asynccontextmanager
async def run_fake_telegram_process() -> AsyncIterator[RemoteFakeTelegram]:
    """Start the fake in a child process on an ephemeral port; stopped (SIGTERM) on exit."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.telegram_process",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        line = (await asyncio.wait_for(child.stdout.readline(), 30)).decode().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"the fake Telegram process did not start: {line!r}")
        yield RemoteFakeTelegram(line, FakeTelegram().token)
    finally:
        if child.returncode is None:
            child.terminate()
        await child.wait()


async def _serve() -> None:
    fake = FakeTelegram()
    config = uvicorn.Config(
        fake.app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())  # stops on SIGTERM (uvicorn handles it)
    while not server.started:
        if task.done():
            task.result()
            return
        await asyncio.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    print(f"http://{host}:{port}", flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(_serve())
