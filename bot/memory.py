"""Conversation memory: the recent turns of a conversation, since the last /reset."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.foundation.tables import Conversation
from bot.models import HistoryMessage
from coaching.generation import ChatTurn


async def recent_turns(session: AsyncSession, conversation: Conversation, limit: int) -> tuple[ChatTurn, ...]:
    """The last `limit` chat turns (commands left out), oldest first."""
    if limit <= 0:
        return ()
    query = select(HistoryMessage).where(
        HistoryMessage.conversation_id == conversation.id,
        HistoryMessage.is_command.is_(False),
        HistoryMessage.id > conversation.memory_after_id,
    )
    rows = list(await session.scalars(query.order_by(HistoryMessage.id.desc()).limit(limit)))
    return tuple(
        ChatTurn("assistant" if row.role == "assistant" else "user", row.text) for row in reversed(rows)
    )


async def forget(session: AsyncSession, conversation: Conversation) -> None:
    """Start the memory afresh from now; earlier turns stay in the transcript."""
    newest = await session.scalar(
        select(func.max(HistoryMessage.id)).where(HistoryMessage.conversation_id == conversation.id)
    )
    conversation.memory_after_id = newest or 0
