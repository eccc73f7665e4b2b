"""The inline SQLite driver: statements run on the event loop, yet a lock held elsewhere never stalls it.

Another connection (plain sqlite3, as `run.py ingest` beside `run.py serve` would be) holds the lock;
the test waits on the driver's own counters and events, never on the clock.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import column, select, table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.foundation import sqlite_inline
from bot.foundation.db import create_engine, migrate
from bot.foundation.sqlite_checkpoints import Checkpointer
from tests.support.databases import lock_holder
from tests.support.waiting import until

NOTES = table("notes", column("id"), column("body"))


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "inline.db"


@pytest.fixture
async def engine(database: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
    yield engine
    await engine.dispose()


def count_notes(database: Path) -> int:
    with sqlite3.connect(database) as reader:
        return int(reader.execute("SELECT count(*) FROM notes").fetchone()[0])


async def write_note(engine: AsyncEngine, body: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(NOTES.insert().values(body=body))


async def test_a_write_waits_for_another_connections_lock_without_blocking_the_loop(
    engine: AsyncEngine, database: Path
) -> None:
    retries = sqlite_inline.stats.busy_retries
    with lock_holder(database) as holder:
        write = asyncio.create_task(write_note(engine, "waited"))
        await until(lambda: sqlite_inline.stats.busy_retries > retries, "the write to be refused as busy")
        # The loop is free while the write waits: another coroutine runs to completion meanwhile.
        progressed = asyncio.Event()
        asyncio.get_running_loop().call_soon(progressed.set)
        await progressed.wait()
        assert not write.done()
        holder.execute("COMMIT")
        await write
    assert count_notes(database) == 1


async def test_a_commit_refused_as_busy_is_retried_and_commits_once(tmp_path: Path) -> None:
    # In rollback-journal mode COMMIT needs every reader gone: a reader's open transaction makes it busy.
    database = tmp_path / "journal.db"
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{database}", async_creator=partial(sqlite_inline.connect, str(database))
    )
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
        retries = sqlite_inline.stats.busy_retries
        async with engine.connect() as connection:
            await connection.execute(NOTES.insert().values(body="committed once"))
            with lock_holder(database, "BEGIN") as reader:
                reader.execute("SELECT count(*) FROM notes").fetchall()  # holds a shared lock
                commit = asyncio.create_task(connection.commit())
                await until(
                    lambda: sqlite_inline.stats.busy_retries > retries, "COMMIT to be refused as busy"
                )
                assert not commit.done()
                reader.execute("COMMIT")
                await commit
        assert count_notes(database) == 1
    finally:
        await engine.dispose()


async def test_a_failed_statement_rolls_its_transaction_back(engine: AsyncEngine, database: Path) -> None:
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(NOTES.insert().values(id=1, body="first"))
            await connection.execute(NOTES.insert().values(id=1, body="same id"))
    assert count_notes(database) == 0
    await write_note(engine, "the connection still works")
    assert count_notes(database) == 1


async def test_results_look_as_they_did_with_aiosqlite(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(NOTES.insert().values(body="a"))
        assert inserted.lastrowid == 1
        await connection.execute(NOTES.insert(), [{"body": "b"}, {"body": "c"}])
        updated = await connection.execute(NOTES.update().where(NOTES.c.id > 1).values(body="x"))
        assert updated.rowcount == 2
        rows = (await connection.execute(select(NOTES).order_by(NOTES.c.id))).all()
        assert [tuple(row) for row in rows] == [(1, "a"), (2, "x"), (3, "x")]
        assert list((await connection.execute(select(NOTES))).keys()) == ["id", "body"]
        # SQLAlchemy's own SQL functions (registered with create_function) work.
        matched = await connection.execute(select(NOTES.c.id).where(NOTES.c.body.regexp_match("^a")))
        assert matched.scalars().all() == [1]
        streamed = await connection.stream(select(NOTES.c.body).order_by(NOTES.c.id))
        assert [body async for body in streamed.scalars()] == ["a", "x", "x"]


async def test_savepoints_and_autocommit(engine: AsyncEngine, database: Path) -> None:
    async with engine.begin() as connection:
        await connection.execute(NOTES.insert().values(body="kept"))
        savepoint = await connection.begin_nested()
        await connection.execute(NOTES.insert().values(body="undone"))
        await savepoint.rollback()
    assert count_notes(database) == 1
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(NOTES.insert().values(body="at once"))
        assert count_notes(database) == 2


async def test_heavy_statements_run_off_the_loop(engine: AsyncEngine) -> None:
    off_loop = sqlite_inline.stats.off_loop
    async with engine.connect() as connection:
        await connection.exec_driver_sql("VACUUM")
    assert sqlite_inline.stats.off_loop > off_loop
    assert sqlite_inline.is_heavy("INSERT INTO chunk_fts(chunk_fts) VALUES('rebuild')")
    assert sqlite_inline.is_heavy("create unique index ix on notes (body)")
    assert not sqlite_inline.is_heavy("SELECT body FROM notes WHERE id = ?")


async def test_migrations_run_off_the_loop(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}")
    off_loop = sqlite_inline.stats.off_loop
    try:
        await migrate(engine)
        async with engine.connect() as connection:
            version = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    finally:
        await engine.dispose()
    assert version
    assert sqlite_inline.stats.off_loop > off_loop


async def test_a_cancelled_wait_leaves_the_connection_usable(engine: AsyncEngine, database: Path) -> None:
    retries = sqlite_inline.stats.busy_retries
    with lock_holder(database) as holder:
        write = asyncio.create_task(write_note(engine, "cancelled"))
        await until(lambda: sqlite_inline.stats.busy_retries > retries, "the write to be refused as busy")
        write.cancel()
        with pytest.raises(asyncio.CancelledError):
            await write
        holder.execute("COMMIT")
    # The next user waits for the cancelled statement to finish, then has the connection to itself;
    # the cancelled transaction never committed.
    await write_note(engine, "after")
    async with engine.connect() as connection:
        bodies = (await connection.execute(select(NOTES.c.body))).scalars().all()
    assert bodies == ["after"]


async def test_the_log_is_checkpointed_off_the_loop_after_enough_writes(
    engine: AsyncEngine, database: Path
) -> None:
    async with engine.connect() as connection:
        # SQLite's own checkpoint would run inside a COMMIT, on the loop: the driver turns it off.
        assert (await connection.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
    writer = sqlite3.connect(database)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    checkpointer = Checkpointer(partial(sqlite3.connect, database, check_same_thread=False), every=3)
    try:
        for index in range(3):
            writer.execute("INSERT INTO notes (body) VALUES (?)", (f"note {index}",))
            writer.commit()
            checkpointer.committed(writer.total_changes)
            checkpointer.committed(writer.total_changes)  # a commit that wrote nothing does not count
        assert checkpointer.running is not None
        await asyncio.wrap_future(checkpointer.running)
        assert checkpointer.completed == 1
    finally:
        checkpointer.close()
        writer.close()


async def test_a_statement_slow_in_most_runs_moves_off_the_loop(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_inline, "HEAVY_SECONDS", 0.0)  # every call counts as slow
    statement = select(NOTES.c.body).where(NOTES.c.body == "learned")
    async with engine.connect() as connection:
        inline = sqlite_inline.stats.inline
        await connection.execute(statement)
        assert sqlite_inline.stats.inline > inline  # first on the loop
        for _ in range(sqlite_inline.HEAVY_AFTER - 1):
            await connection.execute(statement)
        off_loop = sqlite_inline.stats.off_loop
        await connection.execute(statement)
        assert sqlite_inline.stats.off_loop > off_loop
