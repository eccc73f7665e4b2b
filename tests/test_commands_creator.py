"""A creator's commands, the same on every channel: /claim, /upload, /docs, /ask, /personality,
/programs, /program and /forget — each one written to the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import select

from bot.command_forms import command_form
from bot.commands import Command, CommandContext, CommandError, Reply
from bot.foundation.clock import FakeClock
from bot.foundation.tables import Creator, User
from bot.identity import create_creator
from bot.models import RoleGrant
from bot.roles import CREATORS
from bot.runtime import Coachline
from coaching.offline import OfflineGenerator
from tests.support.command_rig import CHANNELS, Rig, running_rig

SLEEP_GUIDE = b"""# Sleep guide

## How much sleep

Adults need seven to nine hours of sleep each night. Teenagers need eight to ten hours.

## Habits

Go to bed at the same time every night. Keep the bedroom dark, quiet and cool. Avoid caffeine
after noon, and put screens away an hour before bed. You can do this: start tonight!
"""


@pytest.fixture
async def rig(
    make_service: Callable[..., Coachline], database_url: str, clock: FakeClock
) -> AsyncIterator[Rig]:
    """All five channels, offline answers from the creator's materials, on each database."""
    async with running_rig(
        make_service,
        database_url=database_url,
        clock=clock,
        generator=OfflineGenerator(),
        min_relevance=0.05,
        public_url="https://coach.example",
    ) as running:
        yield running


async def _new_creator(rig: Rig, name: str) -> tuple[str, str]:
    async with rig.service.sessions.begin() as session:
        made = await create_creator(session, name, rig.service.now())
    return made.creator.id, made.claim_code


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_creator_claims_the_role_and_manages_the_twin(rig: Rig, channel: str) -> None:
    dana_id, code = await _new_creator(rig, "Dana Fit")
    program = await rig.add_program("Sleep Better", creator_id=dana_id)
    dana = rig.chat(channel, "dana")

    await dana.send(f"/claim {code.lower()}")
    await dana.expect_reply(contains="Welcome, Dana Fit!")
    await dana.send("/help")
    reply = await dana.expect_reply(contains="For creators:")
    assert command_form("forget DOC", channel) in reply and command_form("ask QUESTION", channel) in reply

    await dana.upload("sleep-guide.md", SLEEP_GUIDE)
    await dana.expect_reply(contains='Learned "')
    await dana.send("/docs")
    await dana.expect_reply(contains="sleep-guide.md")

    await dana.send("/ask How many hours of sleep do adults need?")
    reply = await dana.expect_reply(contains="seven to nine")
    # The reply's [1] is the first source listed, under the same number, with its relevance.
    assert "[1]" in reply.split("\n\n")[0]
    assert "\n[1] Sleep" in reply and " — relevance 0." in reply
    assert "[2]" not in reply  # one passage cited, one source listed

    await dana.send("/personality refresh")
    await dana.expect_reply(contains="Personality v")
    await dana.send("/personality")
    await dana.expect_reply(contains="Dominant traits:")

    await dana.send("/programs")
    await dana.expect_reply(contains="Sleep Better [active] — 0 active, 0 completed, 0 stopped")
    await dana.send("/program sleep")
    reply = await dana.expect_reply(contains=f"https://coach.example/dashboard#/programs/{program.id}")
    assert "2 steps:" in reply and "1. welcome (message, on enrollment)" in reply
    assert f"/api/v1/creators/programs/{program.id}/diagram?format=mermaid" in reply

    await dana.send("/forget sleep")
    await dana.expect_reply(contains="Forgotten:")
    await dana.send("/docs")
    await dana.expect_reply(contains="don't have any documents")

    entries = await rig.audit()
    assert [entry.action for entry in entries] == [
        "claim",
        "upload",
        "docs",
        "ask",
        "personality",
        "personality",
        "program",
        "forget",
        "docs",
    ]
    assert {(entry.channel, entry.actor, entry.creator_id) for entry in entries} == {
        (channel, f"{channel}:{dana.user_id}", dana_id)
    }
    claim, forget = entries[0], entries[7]
    assert claim.target == f"creator {dana_id}" and code not in str(claim.detail)  # the secret is not kept
    assert forget.target is not None and forget.target.startswith("document ")


async def test_a_claim_code_works_once(rig: Rig) -> None:
    dana_id, code = await _new_creator(rig, "Dana Fit")
    first, second = rig.chat("telegram", "dana"), rig.chat("sms", "mallory")

    await first.ask(f"/claim {code}")
    await second.send(f"/claim {code}")
    await second.expect_reply(contains="not valid, or it was used already")
    await second.send("/claim")
    await second.expect_reply(contains=command_form("claim CODE", "sms"))

    async with rig.service.sessions() as session:
        grants = list(await session.scalars(select(RoleGrant)))
        creator = await session.get_one(Creator, dana_id)
        dana = await session.get_one(User, grants[0].user_id)
    assert [(grant.role, grant.creator_id) for grant in grants] == [("creator", dana_id)]
    assert creator.claim_code_hash is None
    assert dana.creator_id == dana_id
    assert [entry.action for entry in await rig.audit()] == ["claim"]  # failed attempts did nothing


async def test_ask_says_when_nothing_in_the_materials_is_relevant(rig: Rig) -> None:
    _, code = await _new_creator(rig, "Dana Fit")
    dana = rig.chat("web", "dana")
    await dana.ask(f"/claim {code}")

    await dana.send("/ask How do I fix a carburettor?")
    await dana.expect_reply(contains="No passage of your materials was relevant enough")
    await dana.send("/personality")
    await dana.expect_reply(contains="No profile yet")
    await dana.send("/forget nothing")
    await dana.expect_reply(contains="No document called 'nothing'")


async def test_a_command_that_refuses_halfway_changes_nothing_and_is_not_audited(rig: Rig) -> None:
    async def careless(ctx: CommandContext) -> list[Reply]:
        ctx.sender.user.timezone = "Asia/Tokyo"
        ctx.db.add(ctx.sender.user)
        await ctx.db.flush()
        raise CommandError("Changed my mind.")

    rig.service.commands.add(Command("careless", "test", CREATORS, careless))
    operator = rig.chat("console", "op")  # the terminal's user is an admin

    await operator.send("/careless")
    await operator.expect_reply(contains="Changed my mind.")

    async with rig.service.sessions() as session:
        user = await session.scalar(select(User).where(User.display_name == "Op"))
    assert user is not None and user.timezone is None
    assert await rig.audit() == []
