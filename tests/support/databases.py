"""The databases the suite runs against: SQLite always, PostgreSQL when 127.0.0.1:5432 answers."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

POSTGRES_HOST = os.environ.get("COACH_TEST_PG_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("COACH_TEST_PG_PORT", "5432"))
POSTGRES_USER = os.environ.get("COACH_TEST_PG_USER", "postgres")
POSTGRES_ADMIN_DB = os.environ.get("COACH_TEST_PG_DB", "test")


def postgres_available() -> bool:
    """Whether a PostgreSQL server listens where the tests expect one."""
    try:
        with socket.create_connection((POSTGRES_HOST, POSTGRES_PORT), timeout=0.5):
            return True
    except OSError:
        return False


# Databases migrated once per test process and copied for each test: running the migrations for
# every one of several hundred tests was a fifth of the suite. The service still migrates at start
# (finding itself at head), so the migrations themselves stay exercised.
_TEMPLATE_LOCK = threading.Lock()
_templates: dict[str, str] = {}


def _migrate_in_thread(url: str) -> None:
    """Run the migrations on `url` from a thread with its own event loop (callable from anywhere)."""
    from bot.foundation.db import create_engine, migrate

    async def run() -> None:
        engine = create_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    errors: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(errors, lambda: asyncio.run(run())))
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


def _capture(errors: list[BaseException], action: Callable[[], None]) -> None:
    try:
        action()
    except BaseException as exc:  # re-raised in the calling thread
        errors.append(exc)


def migrated_sqlite(target: Path) -> str:
    """A SQLite database at `target`, already at the newest migration; returns its async URL."""
    with _TEMPLATE_LOCK:
        template = _templates.get("sqlite")
        if template is None:
            folder = Path(tempfile.mkdtemp(prefix="coach-template-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            template = str(folder / "template.db")
            _migrate_in_thread(f"sqlite+aiosqlite:///{template}")
            _templates["sqlite"] = template
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


def _postgres_template() -> str:
    """The name of a migrated PostgreSQL database to copy (made once per test process)."""
    with _TEMPLATE_LOCK:
        name = _templates.get("postgresql")
        if name is None:
            name = f"coach_template_{uuid.uuid4().hex[:12]}"
            _run_admin(f'CREATE DATABASE "{name}"')
            atexit.register(_run_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _migrate_in_thread(f"postgresql+asyncpg://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}")
            _templates["postgresql"] = name
        return name


def _run_admin(statement: str) -> None:
    import asyncpg

    async def run() -> None:
        admin = await asyncpg.connect(
            host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, database=POSTGRES_ADMIN_DB
        )
        try:
            await admin.execute(statement)
        finally:
            await admin.close()

    errors: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(errors, lambda: asyncio.run(run())))
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


# PostgreSQL databases of this test process that a test has finished with, emptied, for the next
# test: dropping a database costs a checkpoint (over a second on a loaded machine, for each of several
# hundred tests), emptying its tables a fraction of that. All are dropped when the process exits.
_free_databases: list[str] = []


async def _database_for_a_test(admin: asyncpg.Connection) -> str:
    if _free_databases:
        return _free_databases.pop()
    name = f"coach_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_postgres_template()}"')
    atexit.register(_run_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return name


async def _give_back(admin: asyncpg.Connection, name: str) -> None:
    """Empty the database for the next test; drop it instead if anything might carry over.

    Reused only when nobody is connected any more (no session, advisory lock or leader lock left) and
    its schema is still the template's (same migration, same tables).
    """
    if await _reusable(admin, name):
        _free_databases.append(name)
    else:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _reusable(admin: asyncpg.Connection, name: str) -> bool:
    import asyncpg

    lingering = await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name)
    if lingering:
        return False
    try:
        database = await asyncpg.connect(
            host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, database=name
        )
    except (OSError, asyncpg.PostgresError):
        return False
    try:
        schema = await _schema(database)
        # The program scheduler makes its job table at start: the one table a test may add.
        if tuple(table for table in schema if table[0] != "apscheduler_jobs") != _template_schema():
            return False
        tables = ", ".join(f'"{table}"' for table, _ in schema if table != "alembic_version")
        await database.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        return True
    except asyncpg.PostgresError:
        return False
    finally:
        await database.close()


async def _schema(database: asyncpg.Connection) -> tuple[tuple[str, str], ...]:
    """Every table of the public schema with the migration the database is at."""
    tables = await database.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
    version = await database.fetchval("SELECT string_agg(version_num, ',') FROM alembic_version")
    return tuple((str(row[0]), str(version)) for row in tables)


_template_schemas: dict[str, tuple[tuple[str, str], ...]] = {}


def _template_schema() -> tuple[tuple[str, str], ...]:
    """The template's tables and migration: what a reused database must still have."""
    template = _postgres_template()
    if template not in _template_schemas:
        import asyncpg

        async def read() -> tuple[tuple[str, str], ...]:
            database = await asyncpg.connect(
                host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, database=template
            )
            try:
                return await _schema(database)
            finally:
                await database.close()

        found: list[tuple[tuple[str, str], ...]] = []
        worker = threading.Thread(target=lambda: _capture([], lambda: found.append(asyncio.run(read()))))
        worker.start()
        worker.join()
        _template_schemas[template] = found[0]
    return _template_schemas[template]


@asynccontextmanager
async def fresh_database(backend: str, directory: Path) -> AsyncIterator[str]:
    """An empty database at the newest migration for one test; yields its async URL."""
    if backend == "sqlite":
        yield migrated_sqlite(directory / "test.db")
        return
    import asyncpg

    admin = await asyncpg.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, database=POSTGRES_ADMIN_DB
    )
    try:
        name = await _database_for_a_test(admin)
        try:
            yield f"postgresql+asyncpg://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
        finally:
            await _give_back(admin, name)
    finally:
        await admin.close()


@contextmanager
def lock_holder(database: Path, lock: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
    """A second connection to `database` holding `lock` until it commits (or the block ends)."""
    holder = sqlite3.connect(database, isolation_level=None, timeout=0)
    holder.execute(lock)
    try:
        yield holder
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
