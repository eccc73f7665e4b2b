"""Waiting until a running service has nothing left to do: every message answered, every reply settled."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.foundation.tables import OutboxMessage
from bot.models import InboxMessage
from bot.runtime import Coachline
from tests.support.waiting import HANG_SECONDS


async def settled(service: Coachline, timeout: float = HANG_SECONDS) -> None:
    """Return once no inbox row is unanswered and no outbox row unsent (or fail after `timeout`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        progress = service.progress.watch()
        async with service.sessions() as session:
            open_inbox = await session.scalar(
                select(func.count()).where(InboxMessage.status.not_in(("done", "failed")))
            )
            open_outbox = await session.scalar(
                select(func.count()).where(OutboxMessage.status.not_in(("sent", "failed")))
            )
        if open_inbox == 0 and open_outbox == 0:
            return
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"{open_inbox} message(s) unanswered, {open_outbox} unsent")
        # The service signals each step it takes; the short bound covers work it does not signal.
        await progress.wait(min(remaining, 0.1))
