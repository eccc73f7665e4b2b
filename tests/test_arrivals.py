"""Received messages stored by the arrival writer: on SQLite its statements run in one call on the
driver's own connection (`bot.arrivals_sqlite`), and what they write must be what the Core insert
writes, wait for a lock held elsewhere, and leave nothing behind when they fail."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.arrivals
from bot.arrivals import ArrivalWriter, insert_ignoring_redeliveries, row_values
from bot.foundation import sqlite_inline
from bot.foundation.clock import FakeClock
from bot.foundation.db import create_engine, session_factory
from bot.foundation.messages import Attachment, ConversationReference, IncomingMessage
from bot.pacing import Pace, SenderRate
from tests.support.databases import lock_holder, migrated_sqlite
from tests.support.waiting import until

RATE = SenderRate(per_minute=20, burst=3)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    migrated_sqlite(tmp_path / "arrivals.db")
    return tmp_path / "arrivals.db"


@pytest.fixture
async def engine(database: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    yield engine
    await engine.dispose()


class SlowDownRecorder:
    """Stands in for the inbox's "slow down" reply: records the messages it was called for."""

    def __init__(self) -> None:
        self.told: list[str] = []

    async def __call__(self, _session: Any, stored: Any) -> None:
        self.told += [item.arrival.message.message_id for item in stored if item.verdict.tell_sender]


def writer(engine: AsyncEngine, clock: FakeClock, recorder: SlowDownRecorder | None = None) -> ArrivalWriter:
    return ArrivalWriter(session_factory(engine), clock, lambda: RATE, recorder or SlowDownRecorder())


def message(message_id: str, *, sender: str = "42", at: datetime | None = None) -> IncomingMessage:
    """A message with every column's kind of value: JSON with non-ASCII text, an attachment, a name."""
    return IncomingMessage(
        channel="telegram",
        user_id=sender,
        user_name="Zoë Ångström",
        text='Wie geht\'s? 🙂 "quoted" and a backslash \\',
        message_id=message_id,
        conversation=ConversationReference(channel="telegram", chat_id=sender),
        attachments=(
            Attachment(kind="document", file_name="plan.pdf", mime_type="application/pdf", size=12),
        ),
        raw={"update_id": 7, "message": {"text": "Wie geht's? 🙂", "nested": [1, 2.5, None, True]}},
        received_at=at or datetime(2026, 12, 6, 10, 0, 0, 123456, tzinfo=UTC),
    )


def stored_columns(database: Path, external_id: str) -> dict[str, Any]:
    """The row as SQLite holds it, every column but the id, with each value's storage type."""
    with sqlite3.connect(database) as reader:
        reader.row_factory = sqlite3.Row
        row = reader.execute("SELECT * FROM inbox WHERE external_id = ?", (external_id,)).fetchone()
        types = reader.execute(
            "SELECT "
            + ", ".join(f"typeof({name})" for name in row.keys())  # noqa: SIM118 - sqlite3.Row iterates its values
            + " FROM inbox WHERE external_id = ?",
            (external_id,),
        ).fetchone()
    return {name: (row[name], kind) for name, kind in zip(row.keys(), types, strict=True) if name != "id"}


async def test_on_sqlite_an_arrival_is_stored_exactly_as_the_core_insert_stores_it(
    engine: AsyncEngine, database: Path
) -> None:
    clock = FakeClock()
    accepted = await writer(engine, clock).store(message("1:1"), paced=True)
    # The same message through SQLAlchemy's Core insert, at the same time, under another id.
    same = message("core")
    async with engine.begin() as connection:
        await connection.execute(
            insert_ignoring_redeliveries("sqlite"), [row_values(same, Pace(due_at=clock.now()), clock.now())]
        )

    ours, core = stored_columns(database, "1:1"), stored_columns(database, "core")
    assert not accepted.duplicate and accepted.inbox_id > 0
    assert ours.pop("external_id") == ("1:1", "text")
    assert core.pop("external_id") == ("core", "text")
    assert ours == core
    assert ours["due_at"] == (clock.now().strftime("%Y-%m-%d %H:%M:%S.%f"), "text")


async def test_on_sqlite_pace_reads_the_stored_due_times_and_throttles_past_the_burst(
    engine: AsyncEngine,
) -> None:
    clock = FakeClock()
    recorder = SlowDownRecorder()
    store = writer(engine, clock, recorder).store
    # One at a time, so each write reads the due times the one before it stored.
    results = [await store(message(f"m{index}"), paced=True) for index in range(5)]
    again = await store(message("m0"), paced=True)

    assert [result.throttled for result in results] == [False, False, False, True, True]
    assert recorder.told == ["m3"]  # one "slow down" for the run, not one per message set aside
    assert again.duplicate and again.inbox_id == results[0].inbox_id
    clock.advance(timedelta(minutes=10).total_seconds())
    later = await store(message("m5"), paced=True)
    assert not later.throttled


async def test_on_sqlite_an_arrival_waits_off_the_loop_for_another_connections_lock_and_lands_once(
    engine: AsyncEngine, database: Path
) -> None:
    store = writer(engine, FakeClock()).store
    await store(message("warm-up"), paced=True)  # the pool's connection is open before the lock
    retries = sqlite_inline.stats.busy_retries
    with lock_holder(database) as holder:
        write = asyncio.create_task(store(message("waited"), paced=True))
        await until(lambda: sqlite_inline.stats.busy_retries > retries, "the write to be refused as busy")
        assert not write.done()
        holder.execute("COMMIT")
        accepted = await write

    assert not accepted.duplicate
    assert stored_columns(database, "waited")["status"] == ("pending", "text")
    with sqlite3.connect(database) as reader:
        assert reader.execute("SELECT count(*) FROM inbox").fetchone()[0] == 2


async def test_on_sqlite_a_failed_arrival_write_leaves_no_row_and_no_open_transaction(
    engine: AsyncEngine, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = writer(engine, FakeClock()).store
    real_row_values = bot.arrivals.row_values

    def unstorable_second_row(incoming: IncomingMessage, verdict: Pace, now: datetime) -> dict[str, Any]:
        row = real_row_values(incoming, verdict, now)
        return row | {"raw": {"not json": object()}} if incoming.message_id == "second" else row

    monkeypatch.setattr(bot.arrivals, "row_values", unstorable_second_row)
    # Two messages in one write (submitted together): the first is inserted, the second cannot be.
    outcomes = await asyncio.gather(
        store(message("first"), paced=True), store(message("second"), paced=True), return_exceptions=True
    )
    assert all(isinstance(outcome, TypeError) for outcome in outcomes)
    monkeypatch.setattr(bot.arrivals, "row_values", real_row_values)

    after = await store(message("after"), paced=True)
    with sqlite3.connect(database) as reader:
        ids = [row[0] for row in reader.execute("SELECT external_id FROM inbox")]
    assert ids == ["after"] and not after.duplicate
