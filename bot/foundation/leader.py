"""Leadership: which one of several instances runs the program scheduler.

PostgreSQL: a session-level advisory lock held on a dedicated connection; if the leader dies, its
connection closes, the lock is released and another instance takes over at its next try. SQLite (one
machine): an exclusive `flock` on a file beside the database, released by the OS when the process dies.
Leadership only saves duplicate work: delivery is exactly-once without it (delivery keys, row claims).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# An arbitrary 64-bit key naming "the Coachline scheduler" among advisory locks.
SCHEDULER_LOCK_KEY = 0x436F6163685363  # "CoachSc"


class LeaderLock:
    """Try to become, and stay, the scheduler's leader."""

    def __init__(self, engine: AsyncEngine, lock_file: Path) -> None:
        self._engine = engine
        self._lock_file = lock_file
        self._connection: AsyncConnection | None = None
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        """Whether this instance is the leader."""
        return self._connection is not None or self._file is not None

    async def try_acquire(self) -> bool:
        """Become the leader if nobody is; True if this instance is (or already was)."""
        if self.held:
            return await self._still_held()
        if self._engine.dialect.name == "postgresql":
            connection = await self._engine.connect()
            got = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": SCHEDULER_LOCK_KEY}
            )
            if got:
                await connection.commit()  # the lock is the session's: it outlives the transaction
                self._connection = connection
                return True
            await connection.close()
            return False
        self._lock_file.parent.mkdir(parents=True, exist_ok=True)
        handle = self._lock_file.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return True

    async def _still_held(self) -> bool:
        if self._connection is None:
            return True  # a flock lasts as long as the file is open
        try:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
            return True
        except Exception as exc:  # the connection (and with it the lock) is gone
            log.warning("scheduler leadership lost: %s", exc)
            await self.release()
            return False

    async def release(self) -> None:
        """Stop being the leader."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEDULER_LOCK_KEY})
            with contextlib.suppress(Exception):
                await connection.close()
        if self._file is not None:
            handle, self._file = self._file, None
            with contextlib.suppress(OSError):
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()
