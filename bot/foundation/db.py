"""Database engine, sessions and schema migrations (SQLite by default, PostgreSQL for scale-out)."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot.foundation import sqlite_inline

log = logging.getLogger(__name__)

# The migrations cover every layer's tables, so they sit with the core that composes them.
MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"
# Any constant works; it keeps two instances starting together from migrating at the same time.
_MIGRATION_LOCK_ID = 0x0C0AC411


# How long a statement refused as busy waits for another connection's lock (off the event loop).
_SQLITE_BUSY_TIMEOUT = 30.0


def create_engine(url: str) -> AsyncEngine:
    """An async engine; on SQLite the inline driver (see `sqlite_inline`) with WAL and foreign keys."""
    if url.startswith("sqlite"):
        parsed = make_url(url)
        args, kwargs = parsed.get_dialect()().create_connect_args(parsed)
        kwargs.setdefault("timeout", _SQLITE_BUSY_TIMEOUT)  # a `?timeout=` in the URL wins
        # One connection: SQLite allows one writer anyway, and queueing in the pool is fairer and faster
        # than many connections spinning on the file lock (or failing to upgrade a read to a write).
        engine = create_async_engine(
            url,
            async_creator=partial(sqlite_inline.connect, *args, **kwargs),
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the web page, `run.py chat`) work while a worker writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # No busy_timeout here: the driver keeps it at 0 on the event loop and waits off it.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    """The Alembic configuration, built in code so the service needs no ini file to migrate."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema up to the newest migration; safe when several instances start at once."""
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        try:
            # Migrations copy whole tables (SQLite's batch ALTER): their statements leave the loop.
            with sqlite_inline.off_loop():
                await connection.run_sync(_upgrade)
                await connection.commit()
        finally:
            if engine.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
                await connection.commit()


class DatabaseUnavailableError(RuntimeError):
    """The database cannot be reached or migrated; the message says which and why."""


async def prepare_database(url: str) -> None:
    """Connect and migrate once before serving, so a bad URL stops the start with a plain message."""
    engine = create_engine(url)
    try:
        await migrate(engine)
    except Exception as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        raise DatabaseUnavailableError(
            f"cannot use the database {shown} (COACH_DATABASE_URL): {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        await engine.dispose()


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
