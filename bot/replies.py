"""Waiting for a received message's replies: what the chat API and the web page answer with.

The workers of this instance say when each of a message's replies is settled, and when a message is
answered with nothing to send (`Outbox.replies_moved`, keyed by the inbox id), so a waiter reads the
database only when its own message may be finished. Another instance's progress sends no signal here: a slow poll covers that case.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.foundation.tables import OutboxMessage
from bot.models import InboxMessage
from bot.outbox import FINAL_STATES
from bot.signals import KeyedSignal

# How often a waiter looks anyway, for a message answered or sent by another instance.
CROSS_INSTANCE_POLL_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """What came of a received message by the time the waiter stopped waiting."""

    inbox_id: int
    finished: bool  # the message was answered (or given up on) and every reply settled
    replies: list[OutboxMessage]


async def wait_for_replies(
    sessions: async_sessionmaker[AsyncSession], moved: KeyedSignal, inbox_id: int, timeout: float
) -> ReplyOutcome:
    """Wait until a message is answered and its replies are settled, or `timeout` seconds pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        progress = moved.watch(inbox_id)  # before looking, so a notify while we look is not lost
        outcome = await _look(sessions, inbox_id)
        remaining = deadline - loop.time()
        if outcome.finished or remaining <= 0:
            return outcome
        await progress.wait(min(remaining, CROSS_INSTANCE_POLL_SECONDS))


# One statement per look, built once: the message's status beside its replies (an outer join, so a
# message with no reply yet still gives its status). Two reads were two round trips to the database.
_LOOK = (
    select(InboxMessage.status, OutboxMessage)
    .outerjoin(OutboxMessage, OutboxMessage.inbox_id == InboxMessage.id)
    .where(InboxMessage.id == bindparam("inbox_id"))
    .order_by(OutboxMessage.id)
)


async def _look(sessions: async_sessionmaker[AsyncSession], inbox_id: int) -> ReplyOutcome:
    async with sessions() as session:
        found = (await session.execute(_LOOK, {"inbox_id": inbox_id})).all()
    status = found[0][0] if found else None
    rows = [row for _, row in found if row is not None]
    # "throttled": over its sender's rate, kept and never answered (see bot.pacing).
    finished = status in ("done", "failed", "throttled") and all(row.status in FINAL_STATES for row in rows)
    return ReplyOutcome(inbox_id, finished, rows)
