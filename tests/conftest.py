"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL where it runs), settings and a service."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import create_app
from bot.composition import build_service
from bot.foundation.clock import FakeClock
from bot.runtime import Coachline
from channels.base import Channel
from coaching.embeddings import Embedder, HashingEmbedder
from coaching.fake_generator import ScriptedGenerator
from coaching.generation import Generator
from coaching.vector_store import InMemoryVectorStore, VectorStore
from config import Settings
from tests.support.asgi_server import serve_asgi
from tests.support.databases import fresh_database, migrated_sqlite, postgres_available
from tests.support.waiting import HANG_SECONDS

ADMIN_KEY = "test-admin-key"

_BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL on 127.0.0.1:5432"),
    ),
]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come only from what a test passes: none of the machine's COACH_*/channel variables."""
    prefixes = ("COACH_", "TELEGRAM_", "SLACK_", "TWILIO_")
    for name in list(os.environ):
        if name.startswith(prefixes):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to a non-loopback address fails the test."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            if not (host.startswith("127.") or host in ("::1", "localhost")):
                raise AssertionError(f"test tried to reach the network: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(params=_BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database: every test using it runs on SQLite and on PostgreSQL."""
    async with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database (already migrated) for tests that are not about the database."""
    return migrated_sqlite(tmp_path / "coachline.db")


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test: its own data dir, a known admin key, the offline generator."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "api_key": ADMIN_KEY,
            "llm": "offline",
            "claim_lease_seconds": 30.0,
            # How long the chat API holds a request for its reply: a hang guard, not a speed check.
            "reply_wait_seconds": HANG_SECONDS,
            # Tests send many messages at one frozen instant; pacing has its own tests (test_fairness).
            "sender_rate": 0.0,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def clock() -> FakeClock:
    """Time that moves only when the test says."""
    return FakeClock()


@pytest.fixture
def generator() -> ScriptedGenerator:
    """An instant model that echoes the question."""
    return ScriptedGenerator()


@pytest.fixture
def make_service(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> Iterator[Callable[..., Coachline]]:
    """Build services (not started) on one database, through `build_service` as `run.py` does."""

    def make(
        *,
        database_url: str | None = None,
        generator: Generator | None = None,
        embedder: Embedder | None = None,
        vector_store: VectorStore | None = None,
        channels: dict[str, Channel] | None = None,
        clock: FakeClock | None = None,
        shutdown_grace_seconds: float = 5.0,
        **settings: Any,
    ) -> Coachline:
        from channels.web import WebChannel

        return build_service(
            make_settings(database_url=database_url or sqlite_url, **settings),
            channels=channels if channels is not None else {"web": WebChannel()},
            generator=generator,
            # No model download and no vector database unless a test asks for them.
            embedder=embedder or HashingEmbedder(),
            vector_store=vector_store if vector_store is not None else InMemoryVectorStore(),
            clock=clock,
            poll_seconds=0.05,
            shutdown_grace_seconds=shutdown_grace_seconds,
            # A test process starts hundreds of services: frozen, each one's start-up cycles would stay.
            freeze_heap_at_start=False,
        )

    yield make


@pytest.fixture
async def service(
    make_service: Callable[..., Coachline], database_url: str, generator: ScriptedGenerator
) -> AsyncIterator[Coachline]:
    """A started service with the echo generator, on each database backend."""
    instance = make_service(database_url=database_url, generator=generator)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


@pytest.fixture
async def api(service: Coachline) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of the running `service` (a test file's own `service` fixture, where it has one)."""
    # The service fixture has started it already: the server must not start it again.
    async with (
        serve_asgi(create_app(service), lifespan="off") as url,
        httpx.AsyncClient(
            base_url=url, timeout=60, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        ) as client,
    ):
        yield client


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
