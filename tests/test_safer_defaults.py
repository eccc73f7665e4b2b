"""Accurate reports and safer defaults: broadcast reports after a crash, private files, claim codes
that are long, expiring and rate-limited, and request bodies kept out of Slack's logs."""

from __future__ import annotations

import logging
import re
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select

from bot.claim_codes import new_claim_code, normalise_claim_code
from bot.foundation.clock import FakeClock
from bot.foundation.tables import ChannelAccount, User
from bot.identity import create_creator
from bot.models import ClaimAttempt, RoleGrant
from bot.outbox import Outbox
from bot.runtime import Coachline
from channels.slack.receiving import build_bolt_app
from programs.broadcasts import Audience
from tests.support.chat import ChatDriver

# --- a broadcast report after kill -9 ---------------------------------------------------------------


async def test_after_a_crash_mid_broadcast_the_report_reconciles_with_the_platform(
    make_service: Callable[..., Coachline], clock: FakeClock
) -> None:
    """An instance claims three rows, the platform accepts all three, and the instance dies before
    marking the third sent. After the restart that message goes again: the platform holds one more
    message than there are people, and the report says so."""
    service = make_service(clock=clock)
    platform: list[str] = []  # what the platform accepted, by recipient
    try:
        async with service.sessions.begin() as session:
            creator = (await create_creator(session, "Dana", clock.now())).creator
            for n in range(10):
                user = User(creator_id=creator.id, created_at=clock.now())
                session.add(user)
                await session.flush()
                session.add(
                    ChannelAccount(
                        user_id=user.id, channel="telegram", external_id=str(n), created_at=clock.now()
                    )
                )
        broadcast = await service.broadcasts.create(
            creator.id, "Class is moved to 6pm.", Audience(), ["telegram"]
        )

        dead = Outbox(service.sessions, clock, instance_id="dead", lease_seconds=30, max_attempts=8)
        for index, row in enumerate(await dead.claim(["telegram"], 3)):
            platform.append(row.conversation_ref["chat_id"])
            if index < 2:  # kill -9 before the third is marked sent
                await dead.mark_sent(row.id, f"tg-{index}")
        clock.advance(31)  # the dead instance's leases run out
        alive = Outbox(service.sessions, clock, instance_id="alive", lease_seconds=30, max_attempts=8)
        for row in await alive.claim(["telegram"], 100):
            platform.append(row.conversation_ref["chat_id"])
            await alive.mark_sent(row.id, f"tg-{row.id}")
        report = await service.broadcasts.report(broadcast.id)
    finally:
        await service.engine.dispose()

    assert report is not None
    assert len(platform) == 11 and len(set(platform)) == 10  # one person got it twice
    assert report["sent"] == 10
    assert report["maybe_sent_twice"] == 1
    assert report["sent"] <= len(platform) <= report["sent"] + report["maybe_sent_twice"]


# --- private files ----------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_data_dir_database_chroma_and_keys_are_private(
    make_service: Callable[..., Coachline], tmp_path: Path
) -> None:
    data = tmp_path / "private-data"
    service = make_service(
        data_dir=data, database_url=f"sqlite+aiosqlite:///{data / 'coachline.db'}", api_key=""
    )
    await service.start()
    await service.stop()

    assert mode(data) == 0o700
    assert mode(data / "chroma") == 0o700
    assert mode(data / "coachline.db") == 0o600
    assert mode(data / "admin_api_key") == 0o600


async def test_an_existing_world_readable_install_is_tightened_at_start(
    make_service: Callable[..., Coachline], tmp_path: Path
) -> None:
    data = tmp_path / "old-install"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    database = data / "coachline.db"
    database.touch()
    database.chmod(0o644)

    service = make_service(data_dir=data, database_url=f"sqlite+aiosqlite:///{database}")
    await service.engine.dispose()

    assert (mode(data), mode(database)) == (0o700, 0o600)


# --- claim codes ------------------------------------------------------------------------------------


def test_claim_codes_hold_128_bits_in_readable_groups() -> None:
    codes = {new_claim_code() for _ in range(200)}

    assert len(codes) == 200
    for code in codes:
        assert re.fullmatch(r"([A-Z2-7]{4}-){6}[A-Z2-7]{2}", code)  # 26 base32 characters: 130 bits
    code = next(iter(codes))
    assert normalise_claim_code(code.lower().replace("-", " ")) == code.replace("-", "")


async def new_creator_code(service: Coachline, hours: float = 168) -> tuple[str, str]:
    async with service.sessions.begin() as session:
        made = await create_creator(session, "Dana", service.now(), claim_code_hours=hours)
    return made.creator.id, made.claim_code


async def creator_grants(service: Coachline) -> int:
    async with service.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(RoleGrant)) or 0)


async def test_a_claim_code_expires(make_service: Callable[..., Coachline], clock: FakeClock) -> None:
    service = make_service(clock=clock, claim_code_hours=48)
    await service.start()
    try:
        _, code = await new_creator_code(service, hours=service.settings.claim_code_hours)
        clock.advance(48 * 3600 + 1)
        chat = ChatDriver(service, user_id="dana")
        reply = await chat.ask(f"/claim {code}")
        grants = await creator_grants(service)
    finally:
        await service.stop()

    assert "not valid, or it was used already, or it expired" in reply
    assert grants == 0


async def test_wrong_claim_codes_are_limited_per_person(
    make_service: Callable[..., Coachline], clock: FakeClock
) -> None:
    service = make_service(clock=clock, claim_attempts=3)
    await service.start()
    try:
        _, code = await new_creator_code(service)
        guesser, other = ChatDriver(service, user_id="guesser"), ChatDriver(service, user_id="other")
        wrong = [await guesser.ask(f"/claim {new_claim_code()}") for _ in range(3)]
        blocked = await guesser.ask(f"/claim {code}")  # even the right code: wait an hour first
        clock.advance(3601)
        later = await guesser.ask(f"/claim {code}")
        async with service.sessions() as session:
            attempts = await session.scalar(select(func.count()).select_from(ClaimAttempt))
        untouched = await other.ask("/claim")
    finally:
        await service.stop()

    assert all("not valid" in reply for reply in wrong)
    assert "Too many wrong claim codes" in blocked
    assert "You are now this twin's creator" in later
    assert attempts == 3
    assert "Send the code you were given" in untouched


# --- Slack's logs -----------------------------------------------------------------------------------


async def test_a_forged_slack_request_is_logged_without_its_body(caplog: pytest.LogCaptureFixture) -> None:
    from slack_bolt.request.async_request import AsyncBoltRequest

    async def nothing(*_: object) -> None:
        return None

    app = build_bolt_app(
        signing_secret="the-real-secret",
        client=AsyncWebClient(token="xoxb-test", base_url="http://127.0.0.1:9/"),
        authorize=nothing,
        deliver=nothing,
        now=FakeClock().now,
    )
    body = '{"type": "event_callback", "event": {"text": "my phone is +15550001111"}}'
    timestamp = str(int(time.time()))
    signature = SignatureVerifier("a-forged-secret").generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    headers: dict[str, str | Sequence[str]] = {
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature,
    }

    with caplog.at_level(logging.DEBUG):
        response = await app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))

    assert response.status == 401
    assert "Invalid request signature" in caplog.text  # the refusal is still logged...
    assert "+15550001111" not in caplog.text  # ...without the body
    assert f"<{len(body)} characters withheld>" in caplog.text
