"""Group commit: work submitted while a write is under way goes, all of it, into the next write.

On the message path every database round trip costs far more CPU than the statement itself (one
SQLite connection, reached through a thread). Under load, many callers want the same small write at
once: each persisted message, each settled send. Gathering them into one transaction of a few
statements makes the cost per caller fall as the load rises, and adds no wait when there is no load:
the first caller's write starts at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class GroupCommit(Generic[Item, Outcome]):
    """Runs `write(batch)` for everything submitted since the last write began; `submit` returns its
    item's outcome (`write` answers one per item, in order) once that write has committed.

    The writes run in their own task, so a caller that gives up (a client hanging up) never cuts a
    write short for the others in its batch. A write that raises raises in every caller of its batch.
    """

    def __init__(self, write: Callable[[list[Item]], Awaitable[Sequence[Outcome]]], *, name: str) -> None:
        self._write = write
        self._name = name
        self._waiting: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.writes = 0  # how many writes ran (a benchmark's and a test's view of the batching)

    async def submit(self, item: Item) -> Outcome:
        """Have `item` written with whatever else is waiting; its outcome once committed."""
        outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, outcome))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name=self._name)
        return await asyncio.shield(outcome)

    async def _write_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            self.writes += 1
            try:
                outcomes = await self._write([item for item, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)
