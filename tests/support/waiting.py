"""Waiting in tests without racing the clock: on the service's progress signal, or until a state holds.

No helper here bounds a wait by how fast the machine is. `HANG_SECONDS` only turns a hang into a
readable failure; it is far above any healthy run on a loaded 2-core machine, and below pytest-timeout's
120 s, the last resort. A test that checks "nothing happened" asserts a state that makes the unwanted
event impossible (a row that is done, or not due before a time the test controls), never that nothing
happened during a pause.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy import select

from bot.foundation.tables import OutboxMessage

if TYPE_CHECKING:
    from bot.runtime import Coachline

# A hang guard, not a speed check (see the module docstring).
HANG_SECONDS = 60.0

# Tests that start `run.py` in fresh processes (Python, FastAPI, the database, twice for a crash test)
# can need minutes on a loaded 2-core machine: their own hang guard, and a pytest-timeout above it.
PROCESS_HANG_SECONDS = 240.0
PROCESS_TEST_TIMEOUT = 300

# How often a condition that no signal announces (another process, a fake server) is looked at again.
_RECHECK_SECONDS = 0.01


async def until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, *, hang_seconds: float = HANG_SECONDS
) -> None:
    """Return once `condition()` holds; fail, naming `what`, only if it never does (a hang)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + hang_seconds
    while True:
        outcome = condition()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if loop.time() > deadline:
            raise AssertionError(f"hung waiting for {what}")
        await asyncio.sleep(_RECHECK_SECONDS)


async def until_progress(service: Coachline, condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Like `until`, but woken by the service's progress signal (each step its workers finish)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_SECONDS
    while True:
        progress = service.progress.watch()  # before looking, so a step finishing meanwhile wakes us
        if await condition():
            return
        if loop.time() > deadline:
            raise AssertionError(f"hung waiting for {what}")
        await progress.wait(0.05)


async def outbox_rows(service: Coachline) -> list[OutboxMessage]:
    """Every outbox row, oldest first."""
    async with service.sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def put_back_for_retry(service: Coachline) -> OutboxMessage:
    """Wait until a reply failed once and is pending another attempt; returns that row."""
    found: list[OutboxMessage] = []

    async def retry_pending() -> bool:
        found[:] = [row for row in await outbox_rows(service) if row.status == "pending" and row.last_error]
        return bool(found)

    await until_progress(service, retry_pending, "a reply put back for a later attempt")
    return found[0]
