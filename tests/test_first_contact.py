"""A person's first message: they, their account and their conversation are created once, with their
roles, even when two workers meet the same new person at once (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.foundation.db import create_engine, session_factory
from bot.foundation.messages import ConversationReference
from bot.foundation.tables import ChannelAccount, Conversation, User
from bot.identity import Sender, conversation_for, ensure_default_creator, resolve_sender
from bot.roles import Role

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
WHERE = ConversationReference(channel="telegram", chat_id="777")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with session_factory(engine).begin() as session:
        await ensure_default_creator(session, "Coach", NOW)
    yield engine
    await engine.dispose()


async def meet(
    sessions: async_sessionmaker[AsyncSession], *, admins: set[tuple[str, str]] | None = None
) -> tuple[Sender, int]:
    """One worker's identification of the person behind telegram account 777, committed."""
    async with sessions.begin() as session:
        sender = await resolve_sender(
            session,
            channel="telegram",
            external_id="777",
            display_name="Ana",
            creator_hint=None,
            admins=admins or set(),
            now=NOW,
        )
        conversation = await conversation_for(session, sender, WHERE, NOW)
        return sender, conversation.id


async def count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_first_message_creates_the_person_and_a_later_one_finds_them(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    first, first_conversation = await meet(sessions)
    later, later_conversation = await meet(sessions)

    assert first.is_new and not later.is_new
    assert first.roles == later.roles == frozenset({Role.USER})
    assert later.user.id == first.user.id and later_conversation == first_conversation
    assert first.creator.id == later.creator.id
    assert [await count(sessions, model) for model in (User, ChannelAccount, Conversation)] == [1, 1, 1]


async def test_a_listed_admin_is_an_admin_from_their_first_message(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    first, _ = await meet(sessions, admins={("telegram", "777")})
    assert first.is_new and first.roles == frozenset({Role.USER, Role.ADMIN})


async def test_two_workers_meeting_the_same_new_person_make_one_person(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    (one, one_conversation), (other, other_conversation) = await asyncio.gather(
        meet(sessions), meet(sessions)
    )

    # One of them created the person; the other found them (or, on PostgreSQL, lost the race to
    # create the account and took the winner's) and looked for their conversation the general way.
    assert sorted([one.is_new, other.is_new]) == [False, True]
    assert one.user.id == other.user.id and one_conversation == other_conversation
    assert [await count(sessions, model) for model in (User, ChannelAccount, Conversation)] == [1, 1, 1]
