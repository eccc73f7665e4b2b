"""PostgreSQL's statistics for a busy table, refreshed when a statement on it turns slow.

The inbox's claim is planned from the statistics PostgreSQL keeps of the table. They are missing for
a table that just received its first backlog, and stale for one whose backlog arrived after the last
analysis (autovacuum analyses again only once a tenth of the table has changed, so a 1,000-message
burst into a million answered ones gets none). Planned from such statistics the claim compared
every waiting row with every other: 140-290 ms a claim at 1,000 waiting, against 2-8 ms once
analysed (`bench.inbox_claims`). So when a claim takes longer than `slow_seconds`, the table is
analysed in the background, at most once every `every`; SQLite needs none of this.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.foundation.clock import Clock

log = logging.getLogger(__name__)

SLOW_SECONDS = 0.05
EVERY = timedelta(minutes=1)


class StatisticsRefresh:
    """Analyses `table` on PostgreSQL after a slow statement on it, in the background, at most once
    every `every`."""

    def __init__(
        self,
        engine: AsyncEngine,
        table: str,
        clock: Clock,
        *,
        slow_seconds: float = SLOW_SECONDS,
        every: timedelta = EVERY,
    ) -> None:
        self._engine = engine
        self._table = table
        self._clock = clock
        self.slow_seconds = slow_seconds
        self._every = every
        self._enabled = engine.dialect.name == "postgresql"
        self._last: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self.refreshes = 0  # analyses finished (what a test or a benchmark reads)

    def took(self, seconds: float) -> None:
        """A statement on the table took `seconds`: start an analysis if it was slow and none is due."""
        if not self._enabled or seconds < self.slow_seconds:
            return
        now = self._clock.now()
        if (self._task is not None and not self._task.done()) or (
            self._last is not None and now - self._last < self._every
        ):
            return
        self._last = now
        self._task = asyncio.create_task(self._analyse(seconds), name=f"analyse-{self._table}")

    async def _analyse(self, seconds: float) -> None:
        log.info(
            "a statement on %s took %.0f ms: refreshing PostgreSQL's statistics", self._table, seconds * 1000
        )
        try:
            async with self._engine.connect() as connection:
                await connection.execute(text(f"ANALYZE {self._table}"))
                await connection.commit()
        except Exception:  # the statistics stay as they were; the next slow statement tries again
            log.warning("could not analyse %s", self._table, exc_info=True)
            return
        self.refreshes += 1

    async def wait(self) -> None:
        """Until the analysis under way (if any) has finished."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Let an analysis under way finish (it is short), so the engine can close under none."""
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task])
