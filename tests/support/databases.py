"""The databases the suite runs against: SQLite always, PostgreSQL when 127.0.0.1:5432 answers."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable
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


@asynccontextmanager
async def fresh_database(backend: str, directory: Path) -> AsyncIterator[str]:
    """A new database at the newest migration for one test; yields its async URL, drops it afterwards."""
    if backend == "sqlite":
        yield migrated_sqlite(directory / "test.db")
        return
    import asyncpg

    template = _postgres_template()
    name = f"coach_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, database=POSTGRES_ADMIN_DB
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield f"postgresql+asyncpg://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
