"""An admin's commands, the same on every channel: /stats, /users, /grant, /revoke, /enroll,
/analytics and /broadcast (with its confirmation) — each written to the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.command_forms import command_form
from bot.foundation.clock import FakeClock
from bot.identity import create_creator
from bot.models import PendingAction, RoleGrant
from bot.runtime import Coachline
from coaching.offline import OfflineGenerator
from programs.broadcasts import Audience
from programs.models import Broadcast, Enrollment
from tests.conftest import ADMIN_KEY
from tests.support.asgi_server import serve_asgi
from tests.support.command_rig import CHANNELS, Rig, account_id, running_rig

# Each channel's admin account; the terminal's user is an admin without being listed.
ADMINS = [
    f"{channel}:{account_id(channel, 'boss')}" for channel in ("web", "telegram", "slack", "sms", "whatsapp")
]


@pytest.fixture
async def rig(
    make_service: Callable[..., Coachline], database_url: str, clock: FakeClock
) -> AsyncIterator[Rig]:
    """All five channels with an admin on each, on each database."""
    async with running_rig(
        make_service, database_url=database_url, clock=clock, generator=OfflineGenerator(), admins=ADMINS
    ) as running:
        yield running


async def _audience(rig: Rig) -> None:
    """Sam on Telegram, Kim by SMS, and Lee, who texted STOP."""
    await rig.chat("telegram", "sam").ask("/start")
    await rig.chat("sms", "kim").ask("/start")
    lee = rig.chat("sms", "lee")
    await lee.ask("/start")
    await lee.send("/optout")  # what the SMS adapter makes of STOP
    await lee.expect_reply()


@pytest.mark.parametrize("channel", CHANNELS)
async def test_an_admin_runs_the_service_from_chat(rig: Rig, channel: str) -> None:
    await rig.add_program("Sleep Better")
    await _audience(rig)
    boss = rig.chat(channel, "boss")

    await boss.send("/help")
    reply = await boss.expect_reply(contains="For admins:")
    assert command_form("broadcast TEXT|confirm|cancel|status", channel) in reply

    await boss.send("/stats")
    reply = await boss.expect_reply(contains="People: 4 (")
    accounts = {"telegram": 1, "sms": 2}
    accounts[channel] = accounts.get(channel, 0) + 1  # the admin has written too
    assert (
        "People: 4 (" + ", ".join(f"{name} {count}" for name, count in sorted(accounts.items())) + ")"
        in reply
    )
    assert "Active enrolments: 0" in reply and "• database: real" in reply

    await boss.send("/users")
    reply = await boss.expect_reply(contains="4 people:")
    assert "Kim #" in reply and f"sms:{account_id('sms', 'kim')}" in reply
    await boss.send("/users sam")
    reply = await boss.expect_reply(contains="1 people matching 'sam':")

    await boss.send("/grant creator sam")
    await boss.expect_reply(contains="is now a creator of")
    await boss.send("/users sam")
    await boss.expect_reply(contains="role: creator")
    await boss.send("/revoke creator sam")
    await boss.expect_reply(contains="is no longer a creator")

    await boss.send("/enroll sam sleep")
    await boss.expect_reply(contains="Enrolled Sam #")
    await rig.wait_for_sent("telegram", "Welcome to Sleep Better, Sam!")
    await boss.send(f"/enroll telegram:{account_id('telegram', 'sam')} Sleep Better")
    await boss.expect_reply(contains="already in Sleep Better")
    await boss.send("/analytics sleep")
    reply = await boss.expect_reply(contains="Sleep Better, last 30 days:")
    assert "Enrolled 1, active 1" in reply and "• welcome: 1," in reply

    await boss.send("/broadcast Lights out at ten tonight!")
    reply = await boss.expect_reply(contains="This will send to")
    assert command_form("broadcast confirm", channel) in reply and "within 10 minutes" in reply
    async with rig.service.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Broadcast)) == 0  # not before confirming
    await boss.send("/broadcast confirm")
    reply = await boss.expect_reply(contains="Queued for")
    assert "is done:" in reply and "1 opted out" in reply
    await rig.wait_for_sent("telegram", "Lights out", to=account_id("telegram", "sam"))
    await rig.wait_for_sent("sms", "Lights out", to=account_id("sms", "kim"))
    lee = account_id("sms", "lee")
    assert not any("Lights out" in m.text and m.conversation.chat_id == lee for m in rig.channels["sms"].sent)
    await boss.send("/broadcast confirm")  # said twice: reported, not sent twice
    await boss.expect_reply(contains="Already sent, not sent again.")
    await boss.send("/broadcast status")
    await boss.expect_reply(contains='Broadcast "Lights out at ten tonight!" is done')
    async with rig.service.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Broadcast)) == 1

    entries = await rig.audit()
    assert [entry.action for entry in entries] == [
        "stats",
        "users",
        "users",
        "grant",
        "users",
        "revoke",
        "enroll",
        "enroll",
        "analytics",
        "broadcast",
        "broadcast",
        "broadcast",
        "broadcast",
    ]
    assert {(entry.channel, entry.actor) for entry in entries} == {(channel, f"{channel}:{boss.user_id}")}
    prepared, sent = entries[9], entries[10]
    assert prepared.detail["stage"] == "prepared" and sent.detail["stage"] == "sent"
    assert sent.target is not None and sent.target.startswith("broadcast ")
    assert entries[3].target is not None and entries[3].target.startswith("user #")


async def test_a_broadcast_not_confirmed_in_time_is_dropped_and_cancel_sends_nothing(
    rig: Rig, clock: FakeClock
) -> None:
    await _audience(rig)
    boss = rig.chat("telegram", "boss")

    await boss.ask("/broadcast First try")
    clock.advance(11 * 60)
    await boss.send("/broadcast confirm")
    await boss.expect_reply(contains="waited too long")
    await boss.ask("/broadcast Second try")
    await boss.send("/broadcast cancel")
    await boss.expect_reply(contains="Cancelled: nothing was sent")
    await boss.send("/broadcast confirm")
    await boss.expect_reply(contains="There is no broadcast to confirm")
    await boss.send("/broadcast status")
    await boss.expect_reply(contains="No broadcast has been sent yet")

    async with rig.service.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Broadcast)) == 0
    assert all("try" not in message.text for message in rig.channels["sms"].sent)


async def test_admin_commands_explain_what_they_could_not_find(rig: Rig) -> None:
    await rig.add_program("Sleep Better")
    await rig.add_program("Sleep Deeper")
    await rig.chat("telegram", "sam").ask("/start")
    await rig.chat("sms", "samantha").ask("/start")
    boss = rig.chat("sms", "boss")

    await boss.send("/enroll nobody sleep")
    await boss.expect_reply(contains="No one called 'nobody'")
    await boss.send("/enroll sam sleep")  # "sam" is exactly Sam, but "sleep" is two programs
    await boss.expect_reply(contains="More than one program matches 'sleep': Sleep Better, Sleep Deeper")
    await boss.send("/enroll sa sleep better")
    await boss.expect_reply(contains="More than one person matches 'sa'")
    await boss.send("/enroll sam")
    await boss.expect_reply(contains=command_form("enroll USER PROGRAM", "sms"))
    await boss.send("/grant emperor sam")
    await boss.expect_reply(contains=command_form("grant creator USER", "sms"))
    await boss.send("/revoke creator sam")
    await boss.expect_reply(contains="holds no granted creator role")
    await boss.send("/analytics")
    await boss.expect_reply(contains="Name a program: Sleep Better, Sleep Deeper")

    async with rig.service.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Enrollment)) == 0
        assert await session.scalar(select(func.count()).select_from(RoleGrant)) == 0
    assert await rig.audit() == []  # nothing succeeded, so nothing is logged


async def test_granted_admins_get_admin_commands_and_users_of_other_creators_stay_out_of_reach(
    rig: Rig,
) -> None:
    async with rig.service.sessions.begin() as session:
        dana = (await create_creator(session, "Dana Fit", rig.service.now())).creator
    await rig.chat("web", "ann", creator_id=dana.id).ask("/start")  # Dana's client
    kim = rig.chat("telegram", "kim")
    await kim.ask("/start")
    boss = rig.chat("web", "boss")

    await boss.send("/grant admin kim")
    await boss.expect_reply(contains="is now an admin")
    await kim.send("/users")
    reply = await kim.expect_reply(contains="Boss #")
    assert "Ann" not in reply  # the default creator's people only
    await kim.send("/enroll ann sleep")
    await kim.expect_reply(contains="No one called 'ann'")


async def test_the_audit_log_is_served_to_the_admin_key_only(rig: Rig) -> None:
    await rig.chat("web", "boss").ask("/stats")
    async with (
        serve_asgi(create_app(rig.service), lifespan="off") as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        admin = await client.get("/api/v1/admin/audit", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        filtered = await client.get(
            "/api/v1/admin/audit?action=broadcast&since=2020-01-01T00:00:00",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        created = await client.post(
            "/api/v1/creators", json={"name": "Dana"}, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
        creator = await client.get(
            "/api/v1/admin/audit", headers={"Authorization": f"Bearer {created.json()['api_key']}"}
        )

    assert admin.status_code == 200, admin.text
    [entry] = admin.json()["entries"]
    assert entry["action"] == "stats" and entry["actor"] == "web:boss" and entry["channel"] == "web"
    assert filtered.json()["entries"] == []
    assert creator.status_code == 403


async def test_a_confirmation_rerun_after_a_crash_does_not_send_the_broadcast_again(rig: Rig) -> None:
    await _audience(rig)
    boss = rig.chat("telegram", "boss")
    await boss.ask("/broadcast Only once, please")
    async with rig.service.sessions() as session:
        pending = await session.scalar(select(PendingAction))
    assert pending is not None
    # The first attempt made the broadcast, then died before noting it in the pending action.
    made = await rig.service.broadcasts.create(
        rig.default_creator_id,
        "Only once, please",
        Audience(),
        rig.service.messaging_channels(),
        created_by=f"telegram:{boss.user_id} via chat ({pending.data['token']})",
    )

    await boss.send("/broadcast confirm")
    await boss.expect_reply(contains="is done")

    async with rig.service.sessions() as session:
        assert list(await session.scalars(select(Broadcast.id))) == [made.id]
    sam = account_id("telegram", "sam")
    assert (
        sum(m.conversation.chat_id == sam and "Only once" in m.text for m in rig.channels["telegram"].sent)
        == 1
    )
