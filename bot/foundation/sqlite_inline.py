"""An aiosqlite-compatible SQLite connection that runs its statements on the event-loop thread.

SQLAlchemy's async SQLite adapter awaits the driver for every cursor, execute, fetch, close, commit
and rollback. aiosqlite answers each of those from a worker thread: a queue put, a thread wake-up and
a self-pipe wake-up of the event loop per call, three or four per statement. Coachline's statements
take microseconds, so this connection runs them right where they are awaited. Two kinds of work still
leave the loop, on one worker thread per connection, so the loop keeps serving meanwhile:

- **A statement SQLite refuses with SQLITE_BUSY** (another connection or process holds the lock).
  Inline the busy timeout is 0, so the loop never sits in SQLite's busy handler; the statement is
  retried on the worker with the real busy timeout. A statement that failed with SQLITE_BUSY had no
  effect — for COMMIT too, whose transaction stays open and may be committed again — so the retry is
  safe. SQLITE_BUSY_SNAPSHOT is not retried: a read transaction whose snapshot went stale cannot
  become a write transaction by waiting.
- **Checkpoints** of the write-ahead log (see `sqlite_checkpoints`).
- **Heavy work**: maintenance statements recognised by their text (VACUUM, REINDEX, ANALYZE,
  CREATE INDEX, an FTS5 'rebuild'/'optimize'/'merge' command, PRAGMA optimize/integrity_check/
  wal_checkpoint/journal_mode), executemany with many rows (a bulk write), everything run under
  `off_loop()` — which the caller that knows its work is long (the migrations) says — and any
  statement whose calls on the loop (execute, fetch) took over `HEAVY_SECONDS` at least
  `HEAVY_AFTER` times and in more than half of its runs (an aggregate over a table that grew, say):
  it is learned, and goes to the worker from then on. The "more than half" keeps on the loop a hot
  statement that a loaded machine happened to preempt a few times.

`stats` counts where calls ran and keeps the slowest inline call; calls slower than
`SLOW_INLINE_SECONDS` are logged at DEBUG on this module's logger.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache, partial
from time import perf_counter
from typing import Any, TypeVar

from bot.foundation.sqlite_checkpoints import Checkpointer

log = logging.getLogger(__name__)

T = TypeVar("T")

SLOW_INLINE_SECONDS = 0.005
HEAVY_SECONDS = 0.02
HEAVY_AFTER = 3
# executemany with at least this many rows is a bulk write: it runs on the worker thread.
BULK_ROWS = 500
_SQLITE_BUSY = 5
_SQLITE_BUSY_SNAPSHOT = 517

_HEAVY = re.compile(
    r"^\s*(VACUUM|REINDEX|ANALYZE|CREATE\s+(UNIQUE\s+)?INDEX"
    r"|PRAGMA\s+(\w+\.)?(optimize|integrity_check|quick_check|wal_checkpoint|journal_mode))\b"
    r"|VALUES\s*\(\s*'(rebuild|optimize|merge|integrity-check)'",
    re.IGNORECASE,
)
_off_loop: ContextVar[bool] = ContextVar("sqlite_off_loop", default=False)


@dataclass
class DriverStats:
    """Where this process's SQLite calls ran, and the slowest one that ran on the loop."""

    inline: int = 0
    off_loop: int = 0
    busy_retries: int = 0
    slow_inline: int = 0  # inline calls over SLOW_INLINE_SECONDS
    slowest_inline_seconds: float = 0.0
    slowest_inline_sql: str = ""

    def reset(self) -> None:
        """Start counting afresh (a benchmark or a test measuring its own calls)."""
        self.inline = self.off_loop = self.busy_retries = self.slow_inline = 0
        self.slowest_inline_seconds = 0.0
        self.slowest_inline_sql = ""


stats = DriverStats()


@contextmanager
def off_loop() -> Iterator[None]:
    """Run every SQLite statement issued inside this block (in this task) on the worker thread."""
    token = _off_loop.set(True)
    try:
        yield
    finally:
        _off_loop.reset(token)


@lru_cache(maxsize=2048)
def is_maintenance(sql: str) -> bool:
    """Whether `sql` is maintenance work that may take long enough to stall the loop."""
    return _HEAVY.search(sql) is not None


# Per statement text: calls on the loop, and those over HEAVY_SECONDS; the statements learned heavy.
# Texts vary with the length of an IN list or a multi-row VALUES: the counts start afresh at
# _REMEMBERED texts rather than grow for as long as the process lives.
_REMEMBERED = 10_000
_runs: dict[str, int] = {}
_slow_runs: dict[str, int] = {}
_learned_heavy: set[str] = set()


def is_heavy(sql: str) -> bool:
    """Whether `sql` runs on the worker: maintenance, or learned slow on the loop."""
    return sql in _learned_heavy or is_maintenance(sql)


def is_busy(error: sqlite3.OperationalError) -> bool:
    """Whether `error` is SQLITE_BUSY that waiting for the lock can cure (not a stale snapshot)."""
    code: int | None = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return "database is locked" in str(error)
    return code & 0xFF == _SQLITE_BUSY and code != _SQLITE_BUSY_SNAPSHOT


class _InlineCalls:
    """Stands in for aiosqlite's request queue: SQLAlchemy's isolation-level setter puts
    `(future, function)` on `connection._tx`; here the function runs at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        """Run the function now and settle its future with the outcome."""
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # handed to whoever awaits the future, as aiosqlite does
            future.set_exception(exc)


class InlineConnection:
    """One sqlite3 connection used from the event loop, with aiosqlite's async surface."""

    def __init__(
        self, connection: sqlite3.Connection, *, busy_timeout: float, checkpointer: Checkpointer | None = None
    ) -> None:
        self._connection: sqlite3.Connection | None = connection
        self._checkpointer = checkpointer
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._tx = _InlineCalls()
        self._worker: ThreadPoolExecutor | None = None
        # A worker call whose awaiting task was cancelled: nothing else may use the connection
        # until it has finished.
        self._pending: Future[Any] | None = None

    @property
    def _conn(self) -> sqlite3.Connection:
        """The open sqlite3 connection (SQLAlchemy's adapter reaches for it by this name)."""
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    async def run(
        self, sql: str, call: Callable[[], T], *, heavy: bool = False, retry_busy: bool = True
    ) -> T:
        """`call` (one sqlite3 call for `sql`) inline, or on the worker when heavy or refused as busy."""
        if self._pending is not None:
            await self._settle_pending()
        if heavy or _off_loop.get():
            return await self._on_worker(call)
        started = perf_counter()
        try:
            result = call()
        except sqlite3.OperationalError as exc:
            if not (retry_busy and is_busy(exc)):
                raise
            stats.busy_retries += 1
            return await self._on_worker(call)
        _note_inline(sql, perf_counter() - started, new_run=retry_busy)
        return result

    async def run_sync(self, name: str, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)`: several statements in one call, run as `run` runs one (`name` stands
        for its SQL in the statistics). Refused as busy, it runs again from the start off the loop,
        so it must take the write lock before it changes anything (`BEGIN IMMEDIATE`)."""
        return await self.run(name, partial(work, self._conn))

    async def _on_worker(self, call: Callable[[], T]) -> T:
        connection = self._conn
        timeout_ms = self._busy_timeout_ms

        def waiting_for_locks() -> T:
            # Off the loop SQLite may wait in its busy handler; back on the loop it must not.
            connection.execute(f"PRAGMA busy_timeout={timeout_ms}")
            try:
                return call()
            finally:
                connection.execute("PRAGMA busy_timeout=0")

        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-off-loop")
        stats.off_loop += 1
        future = self._worker.submit(waiting_for_locks)
        self._pending = future
        try:
            return await asyncio.wrap_future(future)
        finally:
            if future.done():
                self._pending = None

    async def _settle_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                await asyncio.wrap_future(pending)
            except Exception:  # its caller is gone; its outcome went with it
                log.debug("a cancelled caller's SQLite call failed", exc_info=True)

    def cursor(self) -> InlineCursor:
        """A new cursor (SQLAlchemy enters it with `async with`)."""
        return InlineCursor(self, self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        """Run one statement on a new cursor and return the cursor."""
        cursor = self.cursor()
        await cursor.execute(sql, parameters)
        return cursor

    async def commit(self) -> None:
        """Commit; a COMMIT refused as busy leaves the transaction open, so it is retried."""
        connection = self._conn
        await self.run("COMMIT", connection.commit)
        if self._checkpointer is not None:
            self._checkpointer.committed(connection.total_changes)
        # One turn of the loop per transaction: other tasks run between one caller's transactions
        # even when that caller never waits for anything else.
        await asyncio.sleep(0)

    async def rollback(self) -> None:
        """Roll back the open transaction, if any."""
        if self._pending is None and not self._conn.in_transaction:
            # Nothing open: the pool resets every connection it gets back, mostly after a commit.
            return
        await self.run("ROLLBACK", self._conn.rollback)

    async def create_function(
        self, name: str, num_params: int, func: Callable[..., Any], *, deterministic: bool = False
    ) -> None:
        """Register a Python function as an SQL function on this connection."""
        self._conn.create_function(name, num_params, func, deterministic=deterministic)

    @property
    def isolation_level(self) -> str | None:
        """sqlite3's transaction mode (None is autocommit)."""
        return self._conn.isolation_level

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""
        return self._conn.in_transaction

    @property
    def total_changes(self) -> int:
        """Rows changed since the connection opened."""
        return self._conn.total_changes

    async def close(self) -> None:
        """Wait for a call still on the worker, then close the connection and stop the worker."""
        if self._pending is not None:
            await self._settle_pending()
        self.stop()

    def stop(self) -> None:
        """Close at once (SQLAlchemy's forced termination, or garbage collection)."""
        connection, self._connection = self._connection, None
        pending, worker = self._pending, self._worker
        self._worker = None
        if connection is not None:
            if pending is not None and not pending.done():
                # Never close under a statement still running on the worker.
                pending.add_done_callback(lambda _: connection.close())
            else:
                connection.close()
        if worker is not None:
            worker.shutdown(wait=False)
        if self._checkpointer is not None:
            self._checkpointer.close()


class InlineCursor:
    """A sqlite3 cursor with aiosqlite's async methods; see `InlineConnection` for where calls run."""

    def __init__(self, owner: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._owner = owner
        self._cursor = cursor
        self._sql = ""
        self._heavy = False

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        """Run one statement; SELECT rows are then fetched with the fetch methods."""
        self._sql, self._heavy = sql, is_heavy(sql)
        await self._owner.run(sql, partial(self._cursor.execute, sql, parameters), heavy=self._heavy)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> InlineCursor:
        """Run one statement for each parameter set; many rows at once run on the worker."""
        rows = seq_of_parameters if isinstance(seq_of_parameters, Sequence) else list(seq_of_parameters)
        self._sql, self._heavy = sql, is_heavy(sql) or len(rows) >= BULK_ROWS
        await self._owner.run(sql, partial(self._cursor.executemany, sql, rows), heavy=self._heavy)
        return self

    async def fetchone(self) -> Any:
        """The next row, or None."""
        return await self._fetch(self._cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to `size` more rows (the cursor's arraysize by default)."""
        return await self._fetch(
            partial(self._cursor.fetchmany, self._cursor.arraysize if size is None else size)
        )

    async def fetchall(self) -> list[Any]:
        """Every remaining row."""
        return await self._fetch(self._cursor.fetchall)

    async def _fetch(self, call: Callable[[], T]) -> T:
        # Stepping a SELECT happens here, not in execute: its rows cost what the query costs. SQLite
        # takes its locks on the first step, inside execute, so a fetch is never refused as busy.
        return await self._owner.run(self._sql, call, heavy=self._heavy, retry_busy=False)

    async def close(self) -> None:
        """Close the cursor."""
        self._cursor.close()

    @property
    def description(self) -> Any:
        """The columns of the last SELECT (DB-API form)."""
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed (-1 for a SELECT)."""
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        """The rowid of the last inserted row."""
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        """Rows fetchmany returns by default."""
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


def _note_inline(sql: str, seconds: float, *, new_run: bool) -> None:
    """Count an inline call: a statement's execute (`new_run`) or one of its fetches."""
    stats.inline += 1
    if len(_runs) >= _REMEMBERED:
        _runs.clear()
        _slow_runs.clear()
    runs = _runs[sql] = _runs.get(sql, 0) + new_run
    if seconds > HEAVY_SECONDS:
        slow = _slow_runs[sql] = _slow_runs.get(sql, 0) + 1
        learned = sql in _learned_heavy or len(_learned_heavy) >= _REMEMBERED
        if slow >= HEAVY_AFTER and slow * 2 > runs and not learned:
            _learned_heavy.add(sql)
            log.info(
                "slow on the event loop in %d calls over %d runs, moved off it: %s", slow, runs, sql[:200]
            )
    if seconds > stats.slowest_inline_seconds:
        stats.slowest_inline_seconds, stats.slowest_inline_sql = seconds, sql
    if seconds > SLOW_INLINE_SECONDS:
        stats.slow_inline += 1
        log.debug("SQLite call took %.1f ms on the event loop: %s", seconds * 1000, sql[:200])


async def connect(database: str, *, timeout: float = 30.0, **kwargs: Any) -> InlineConnection:
    """Open `database` for use from the event loop; `timeout` is how long a busy retry waits for
    a lock (seconds), off the loop. Other arguments go to `sqlite3.connect`."""
    kwargs["check_same_thread"] = False  # the worker thread retries statements refused as busy
    connection = sqlite3.connect(database, timeout=0, **kwargs)
    in_memory = database == ":memory:" or "mode=memory" in database
    checkpointer = (
        None if in_memory else Checkpointer(partial(sqlite3.connect, database, timeout=0, **kwargs))
    )
    if checkpointer is not None:
        # A checkpoint inside COMMIT would sync the disk on the loop: the checkpointer does it off it.
        connection.execute("PRAGMA wal_autocheckpoint=0")
    return InlineConnection(connection, busy_timeout=timeout, checkpointer=checkpointer)
