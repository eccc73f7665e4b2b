"""A slow claim on PostgreSQL refreshes the inbox's planner statistics, at most once a minute."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.inbox_claims import backlog_rows
from bot.foundation.clock import FakeClock
from bot.foundation.db import create_engine, session_factory
from bot.inbox import INBOX, Inbox

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(insert(INBOX), backlog_rows("fan-in", 200))
    yield engine
    await engine.dispose()


async def analysed_rows(engine: AsyncEngine) -> float:
    """What PostgreSQL's statistics say the inbox holds (-1: never analysed)."""
    async with engine.connect() as connection:
        return float(await connection.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'inbox'")))


async def test_a_slow_claim_has_the_inbox_analysed_on_postgresql_at_most_once_a_minute(
    engine: AsyncEngine,
) -> None:
    on_postgresql = engine.dialect.name == "postgresql"
    clock = FakeClock(NOW)
    inbox = Inbox(session_factory(engine), clock, instance_id="test", lease_seconds=60)
    inbox.statistics.slow_seconds = 0.0  # every claim counts as slow
    refreshes = []
    for advance in (0, 0, 61):  # a claim, another within the minute, one after it
        clock.advance(advance)
        assert len(await inbox.claim(8)) == 8
        await inbox.statistics.wait()
        refreshes.append(inbox.statistics.refreshes)

    # SQLite plans without statistics of this kind: nothing is analysed there.
    assert refreshes == ([1, 1, 2] if on_postgresql else [0, 0, 0])
    if on_postgresql:
        assert await analysed_rows(engine) == 200
