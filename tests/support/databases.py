"""The databases the suite runs against: SQLite always, PostgreSQL when 127.0.0.1:5432 answers."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

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


@asynccontextmanager
async def fresh_database(backend: str, directory: Path) -> AsyncIterator[str]:
    """A new, empty database for one test; yields its SQLAlchemy async URL and drops it afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'test.db'}"
        return
    import asyncpg

    name = f"coach_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, database=POSTGRES_ADMIN_DB
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+asyncpg://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
