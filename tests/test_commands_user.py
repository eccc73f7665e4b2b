"""A user's commands, the same on every channel: /start, /help, /programs, /join, /stop, /resume,
/leave, /timezone and /reset — and everything a user may not do, refused with nothing changed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, select

from bot.command_forms import command_form
from bot.foundation.clock import FakeClock
from bot.foundation.tables import User
from bot.identity import create_creator
from bot.models import AuditEntry, PendingAction, RoleGrant
from bot.runtime import Coachline
from bot.user_commands import zone_name
from coaching.offline import OfflineGenerator
from programs.models import Broadcast, Enrollment, ProgramEvent
from tests.support.command_rig import CHANNELS, USER_CHANNELS, Rig, running_rig


@pytest.fixture
async def rig(
    make_service: Callable[..., Coachline], database_url: str, clock: FakeClock
) -> AsyncIterator[Rig]:
    """All five channels, offline answers, on each database."""
    async with running_rig(
        make_service, database_url=database_url, clock=clock, generator=OfflineGenerator()
    ) as running:
        yield running


async def _enrollment_story(rig: Rig, user_id: int) -> tuple[list[str], list[str]]:
    async with rig.service.sessions() as session:
        statuses = list(await session.scalars(select(Enrollment.status).where(Enrollment.user_id == user_id)))
        kinds = list(
            await session.scalars(
                select(ProgramEvent.kind)
                .join(Enrollment, Enrollment.id == ProgramEvent.enrollment_id)
                .where(Enrollment.user_id == user_id)
                .order_by(ProgramEvent.id)
            )
        )
    return statuses, kinds


async def _user(rig: Rig, name: str) -> User:
    async with rig.service.sessions() as session:
        user = await session.scalar(select(User).where(User.display_name == name))
    assert user is not None
    return user


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_user_joins_pauses_resumes_and_leaves_a_program(rig: Rig, channel: str) -> None:
    await rig.add_program("Sleep Better")
    sam = rig.chat(channel, "sam")

    await sam.send("/start")
    await sam.expect_reply(contains="Hi Sam!")
    await sam.send("/help")
    await sam.expect_reply(contains=command_form("join NAME", channel))
    await sam.send("/programs")
    await sam.expect_reply(contains="Sleep Better")

    await sam.send("/join sleep better")
    await sam.expect_reply(contains="You've joined Sleep Better")
    await rig.wait_for_sent(channel, "Welcome to Sleep Better, Sam!", to=sam.user_id)
    await sam.send("/join Sleep Better")
    await sam.expect_reply(contains="already in Sleep Better")

    await sam.send("/stop")
    await sam.expect_reply(contains="Paused: Sleep Better")
    await sam.send("/resume")
    await sam.expect_reply(contains="Resumed: Sleep Better")
    await sam.send("/leave")
    await sam.expect_reply(contains="You've left Sleep Better")
    await sam.send("/resume")
    await sam.expect_reply(contains="Nothing is paused")

    user = await _user(rig, "Sam")
    statuses, kinds = await _enrollment_story(rig, user.id)
    assert statuses == ["stopped"]
    assert kinds == ["enrolled", "delivered", "stopped", "resumed", "stopped"]

    await sam.send("/timezone Paris")
    await sam.expect_reply(contains="Unknown time zone 'Paris' — use a name like Europe/Paris")
    await sam.send("/timezone europe/paris")
    await sam.expect_reply(contains="Europe/Paris")
    assert (await _user(rig, "Sam")).timezone == "Europe/Paris"

    await sam.send("/reset")
    await sam.expect_reply(contains="forgotten")


@pytest.mark.parametrize("channel", USER_CHANNELS)
async def test_a_user_is_refused_admin_and_creator_commands_and_nothing_happens(
    rig: Rig, channel: str
) -> None:
    await rig.add_program("Sleep Better")
    sam, kim = rig.chat(channel, "sam"), rig.chat(channel, "kim")
    await kim.ask("/start")  # someone to act on

    for attempt, who in (
        ("/stats", "admins"),
        ("/broadcast Free pizza for everyone!", "admins"),
        ("/grant creator kim", "admins"),
        ("/enroll kim sleep", "admins"),
        ("/users", "admins"),
        ("/analytics sleep", "admins"),
        ("/forget guide", "creators"),
        ("/ask What is sleep?", "creators"),
        ("/program sleep", "creators"),
    ):
        await sam.send(attempt)
        name = attempt.split()[0].removeprefix("/")
        await sam.expect_reply(contains=f"Sorry, {command_form(name, channel)} is only for {who}.")
    await sam.send("/broadcast confirm")
    await sam.expect_reply(contains="only for admins")

    async with rig.service.sessions() as session:
        for table in (AuditEntry, Broadcast, RoleGrant, Enrollment, PendingAction):
            assert await session.scalar(select(func.count()).select_from(table)) == 0, table.__tablename__
    for sent in rig.channels[channel].sent:
        assert "pizza" not in sent.text or sent.conversation.chat_id == sam.user_id
    await sam.send("/help")
    help_text = await sam.expect_reply(excludes="stats")
    assert "For admins" not in help_text and "upload" not in help_text


async def test_a_telegram_deep_link_moves_the_person_to_that_creators_twin(rig: Rig) -> None:
    async with rig.service.sessions.begin() as session:
        dana = (await create_creator(session, "Dana Fit", rig.service.now())).creator
    ann = rig.chat("telegram", "ann")

    await ann.send(f"/start {dana.id}")
    await ann.expect_reply(contains="AI twin of Dana Fit")
    await ann.send("/start")
    await ann.expect_reply(contains="AI twin of Dana Fit")
    assert (await _user(rig, "Ann")).creator_id == dana.id

    await ann.send("/start no-such-creator")  # an unknown payload changes nothing
    await ann.expect_reply(contains="Dana Fit")


async def test_join_names_only_open_programs_and_says_which_exist(rig: Rig) -> None:
    await rig.add_program("Sleep Better")
    await rig.add_program("Secret Draft", status="draft")
    sam = rig.chat("web", "sam")

    await sam.send("/join")
    await sam.expect_reply(contains="/programs")
    await sam.send("/join secret draft")
    await sam.expect_reply(contains="No program called 'secret draft'. Programs: Sleep Better")
    await sam.send("/programs")
    await sam.expect_reply(excludes="Secret Draft")


async def test_stop_pauses_only_programs_and_resume_restarts_them_when_due(
    rig: Rig, clock: FakeClock
) -> None:
    await rig.add_program("Sleep Better")
    sam = rig.chat("sms", "sam")
    await sam.ask("/join sleep")
    await rig.wait_for_sent("sms", "Welcome to Sleep Better")
    await sam.ask("/stop")

    clock.advance(2 * 86400)  # the check-in came due while paused: nothing is sent
    assert await rig.service.programs.run_due() == 0
    await sam.send("/programs")
    await sam.expect_reply(contains="paused")
    await sam.send("Are you still there?")  # chat goes on while programs are paused
    await sam.expect_reply()

    await sam.ask("/resume")
    assert await rig.service.programs.run_due() == 1
    await rig.wait_for_sent("sms", "How did you sleep?")


async def test_leave_asks_which_program_when_there_are_several(rig: Rig) -> None:
    await rig.add_program("Sleep Better")
    await rig.add_program("Eat Well")
    sam = rig.chat("telegram", "sam")
    await sam.ask("/join sleep")
    await sam.ask("/join eat")

    await sam.send("/leave")
    await sam.expect_reply(contains="Which one?")
    await sam.send("/leave eat well")
    await sam.expect_reply(contains="You've left Eat Well")
    await sam.send("/programs")
    reply = await sam.expect_reply(contains="you're in it")
    [line] = [line for line in reply.splitlines() if "you're in it" in line]
    assert "Sleep Better" in line


def test_time_zones_are_read_in_any_case_and_nonsense_is_refused() -> None:
    assert zone_name("Europe/Paris") == "Europe/Paris"
    assert zone_name("america/new york") == "America/New_York"
    assert zone_name("UTC") == "UTC"
    assert zone_name("Paris") is None
    assert zone_name("../../etc/passwd") is None
