"""A chat message's sender, conversation and memory are read in one statement (`bot.chat_context`),
and nothing about them is kept between messages: a change written anywhere else — another instance,
the dashboard, the CLI, here a plain session beside the service — counts from the next message on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select, update

from bot.foundation.tables import ChannelAccount, Conversation, User
from bot.identity import create_creator
from bot.models import RoleGrant
from bot.roles import Role
from bot.runtime import Coachline
from coaching.fake_generator import ScriptedGenerator
from coaching.generation import GenerationRequest
from tests.support.chat import ChatDriver

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _who_and_what(request: GenerationRequest) -> str:
    """The creator speaking, how many turns the model was shown, and the question."""
    return f"{request.persona.creator_name} | {len(request.history)} turns | {request.question}"


@pytest.fixture
async def service(make_service: Callable[..., Coachline], database_url: str) -> AsyncIterator[Coachline]:
    """A started service whose model says who speaks and how much it remembers."""
    instance = make_service(database_url=database_url, generator=ScriptedGenerator(_who_and_what))
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


async def _user_id(service: Coachline, chat: ChatDriver) -> int:
    async with service.sessions() as session:
        account = await session.scalar(
            select(ChannelAccount).where(
                ChannelAccount.channel == chat.channel, ChannelAccount.external_id == chat.user_id
            )
        )
        assert account is not None
        return account.user_id


async def test_a_role_revoked_elsewhere_is_refused_on_the_next_message(service: Coachline) -> None:
    sam = ChatDriver(service, user_id="sam")
    await sam.ask("hello")  # known from now on: chat takes the one-statement read
    user_id = await _user_id(service, sam)
    async with service.sessions.begin() as session:
        user = await session.get_one(User, user_id)
        session.add(RoleGrant(user_id=user_id, role=Role.CREATOR, creator_id=user.creator_id, created_at=NOW))

    await sam.send("/docs")
    await sam.expect_reply(excludes="only for")
    await sam.ask("still there?")
    async with service.sessions.begin() as session:
        await session.execute(delete(RoleGrant).where(RoleGrant.user_id == user_id))

    await sam.send("/docs")
    await sam.expect_reply(contains="only for")


async def test_consent_withdrawn_elsewhere_stops_the_next_reply(service: Coachline) -> None:
    lee = ChatDriver(service, user_id="lee")
    await lee.ask("hello")
    async with service.sessions.begin() as session:
        await session.execute(
            update(ChannelAccount).where(ChannelAccount.external_id == "lee").values(opted_out_at=NOW)
        )

    outcome = await service.wait_for_replies(await lee.send("are you there?"), 30)

    assert outcome.finished
    assert [(row.status, row.last_error) for row in outcome.replies] == [("failed", "recipient opted out")]


async def test_a_move_to_another_creator_elsewhere_answers_as_them_from_the_next_message(
    service: Coachline,
) -> None:
    kim = ChatDriver(service, user_id="kim")
    await kim.ask("hello")
    first = await kim.ask("and again")
    user_id = await _user_id(service, kim)
    async with service.sessions.begin() as session:
        other = await create_creator(session, "Dr Other", NOW)
        await session.execute(update(User).where(User.id == user_id).values(creator_id=other.creator.id))

    moved = await kim.ask("who is this?")

    assert "| 2 turns |" in first
    # The other creator's twin, in a conversation of its own: nothing said to the first one is recalled.
    assert moved.startswith("Dr Other | 0 turns |")


async def test_a_reset_elsewhere_empties_the_memory_of_the_next_message(service: Coachline) -> None:
    ann = ChatDriver(service, user_id="ann")
    await ann.ask("one")
    assert "| 2 turns |" in await ann.ask("two")
    user_id = await _user_id(service, ann)
    async with service.sessions.begin() as session:
        conversation = await session.scalar(select(Conversation).where(Conversation.user_id == user_id))
        assert conversation is not None
        conversation.memory_after_id = 10**9  # what /reset does, from another instance

    assert "| 0 turns |" in await ann.ask("three")


async def test_a_new_name_and_a_blocked_account_writing_again_are_written(service: Coachline) -> None:
    bo = ChatDriver(service, user_id="bo", user_name="Bo")
    await bo.ask("hello")
    async with service.sessions.begin() as session:
        await session.execute(
            update(ChannelAccount).where(ChannelAccount.external_id == "bo").values(reachable=False)
        )
    bo.user_name = "Bo Renamed"

    await bo.ask("I changed my name")

    async with service.sessions() as session:
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "bo"))
        assert account is not None and account.reachable
        user = await session.get_one(User, account.user_id)
        assert user.display_name == "Bo Renamed"
