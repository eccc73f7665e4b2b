"""Write-ahead-log checkpoints off the event loop, for the inline SQLite driver.

By default SQLite checkpoints inside the COMMIT that grows the log past 1,000 pages: copying those
pages back into the database file and syncing it took 4-11 ms here (about 1.2 ms of it CPU, the rest
the disk). With the inline driver that COMMIT runs on the event loop, so its connection turns the
automatic checkpoint off (`PRAGMA wal_autocheckpoint=0`) and a `Checkpointer` runs a PASSIVE checkpoint
on its own connection, on a worker thread, after every `CHECKPOINT_EVERY` committed write transactions.
A PASSIVE checkpoint never waits for a reader or a writer, so it holds nobody up; other processes
(`run.py ingest`, another instance) keep their own automatic checkpoints.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)

# Write transactions between checkpoints: a few hundred pages of log, as SQLite's own default keeps.
CHECKPOINT_EVERY = 200


class Checkpointer:
    """Checkpoints one database's log on a worker thread as its inline connection commits writes."""

    def __init__(
        self, open_connection: Callable[[], sqlite3.Connection], every: int = CHECKPOINT_EVERY
    ) -> None:
        self._open = open_connection
        self._every = every
        self._changes_seen = 0
        self._writes = 0
        self._worker: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None  # used on the worker thread only
        self.running: Future[None] | None = None
        self.completed = 0

    def committed(self, total_changes: int) -> None:
        """Note a COMMIT, given the connection's `total_changes` after it (unchanged: it wrote nothing)."""
        if total_changes == self._changes_seen:
            return
        self._changes_seen = total_changes
        self._writes += 1
        if self._writes < self._every or (self.running is not None and not self.running.done()):
            return
        self._writes = 0
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")
        self.running = self._worker.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            if self._connection is None:
                self._connection = self._open()
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.completed += 1
        except sqlite3.Error:  # the next one catches up; a failed checkpoint loses nothing
            log.debug("a WAL checkpoint failed", exc_info=True)

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def close(self) -> None:
        """Close its connection once a checkpoint under way has finished; stop the worker."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.submit(self._close_connection)
            worker.shutdown(wait=False)
