"""Whom a creator may enrol: only people who talked to that creator's twin (or joined with its link),
only on a channel this instance runs — refused with a reason otherwise, through REST and in chat.
The Audience tab's numbers say who is not reachable because their channel is not configured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.foundation.tables import ChannelAccount
from bot.runtime import Coachline
from channels.web import WebChannel
from programs.api_models import ProgramIn
from programs.importer import import_program
from programs.models import Enrollment
from tests.conftest import ADMIN_KEY
from tests.support.channels import RecordingChannel
from tests.support.chat import ChatDriver

PROGRAMS = "/api/v1/creators/programs"
ONE_STEP = [{"step_name": "hello", "step_type": "MESSAGE", "action_config": {"message_template": "Hello"}}]


@pytest.fixture
async def service(make_service: Callable[..., Coachline]) -> AsyncIterator[Coachline]:
    """Web and a (recorded) Telegram channel running; SMS not configured."""
    instance = make_service(channels={"web": WebChannel(), "telegram": RecordingChannel("telegram")})
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


async def _creator(api: httpx.AsyncClient, name: str) -> dict[str, Any]:
    created = await api.post("/api/v1/creators", json={"name": name})
    assert created.status_code == 201
    return dict(created.json())


async def _program(api: httpx.AsyncClient, key: str) -> str:
    created = await api.post(
        PROGRAMS, json={"title": "Mornings", "steps": ONE_STEP}, headers={"Authorization": f"Bearer {key}"}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _enrolments(service: Coachline) -> int:
    async with service.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Enrollment)) or 0)


async def test_rest_enrols_only_people_who_talked_to_this_creator(
    api: httpx.AsyncClient, service: Coachline
) -> None:
    dana, lee = await _creator(api, "Dana"), await _creator(api, "Lee")
    program = await _program(api, dana["api_key"])
    dana_key = {"Authorization": f"Bearer {dana['api_key']}"}
    # Lee's person wrote on Telegram through Lee's link; Dana's person wrote through Dana's.
    await ChatDriver(service, channel="telegram", user_id="501", creator_id=lee["creator_id"]).ask("hi")
    await ChatDriver(service, channel="telegram", user_id="502", creator_id=dana["creator_id"]).ask("hi")
    url = f"{PROGRAMS}/{program}/enrollments"

    foreign = await api.post(url, json={"channel": "telegram", "user_id": "501"}, headers=dana_key)
    stranger = await api.post(url, json={"channel": "telegram", "user_id": "999"}, headers=dana_key)
    own = await api.post(url, json={"channel": "telegram", "user_id": "502"}, headers=dana_key)

    assert foreign.status_code == 422 and "has not talked to this creator's twin" in foreign.json()["detail"]
    assert stranger.status_code == 422 and stranger.json()["detail"] == foreign.json()["detail"].replace(
        "501", "999"
    )  # the same words: the refusal does not tell whose person 501 is
    assert own.status_code == 201 and own.json()["channel"] == "telegram"
    assert await _enrolments(service) == 1
    async with service.sessions() as session:  # no account was made for the stranger
        accounts = await session.scalar(
            select(func.count()).select_from(ChannelAccount).where(ChannelAccount.external_id == "999")
        )
    assert accounts == 0
    async with service.sessions() as session:
        enrolled = [row.conversation_ref["chat_id"] for row in await session.scalars(select(Enrollment))]
    assert enrolled == ["502"]


async def test_someone_who_talked_to_the_creator_before_moving_on_can_be_enrolled(
    api: httpx.AsyncClient, service: Coachline
) -> None:
    dana, lee = await _creator(api, "Dana"), await _creator(api, "Lee")
    program = await _program(api, dana["api_key"])
    await ChatDriver(service, channel="telegram", user_id="601", creator_id=dana["creator_id"]).ask("hi")
    await ChatDriver(service, channel="telegram", user_id="601", creator_id=lee["creator_id"]).ask("hi")

    response = await api.post(
        f"{PROGRAMS}/{program}/enrollments",
        json={"channel": "telegram", "user_id": "601"},
        headers={"Authorization": f"Bearer {dana['api_key']}"},
    )

    assert response.status_code == 201


async def test_enrolling_on_a_channel_that_is_not_configured_names_the_missing_settings(
    api: httpx.AsyncClient, service: Coachline
) -> None:
    assert service.default_creator is not None
    program = await _program(api, ADMIN_KEY)
    # Someone who once texted (the SMS channel has since been switched off).
    await ChatDriver(service, channel="sms", user_id="+15550001").send("hi")

    response = await api.post(
        f"{PROGRAMS}/{program}/enrollments", json={"channel": "sms", "user_id": "+15550001"}
    )

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "sms channel is not configured" in detail
    assert all(name in detail for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"))
    assert await _enrolments(service) == 0


async def test_chat_enroll_is_refused_for_an_unconfigured_channel_with_its_settings(
    make_service: Callable[..., Coachline],
) -> None:
    # Telegram is switched off here; Sam wrote on it while it ran.
    service = make_service(channels={"web": WebChannel()}, admins=["web:boss"])
    await service.start()
    try:
        assert service.default_creator is not None
        async with service.sessions.begin() as session:
            await import_program(
                session,
                service.default_creator.id,
                ProgramIn.model_validate({"title": "Sleep", "steps": ONE_STEP}),
                service.now(),
            )
        await ChatDriver(service, channel="telegram", user_id="42", user_name="Sam").send("hi")

        reply = await ChatDriver(service, user_id="boss").ask("/enroll telegram:42 Sleep")

        assert "couldn't enrol Sam" in reply and "telegram channel is not configured" in reply
        assert "TELEGRAM_BOT_TOKEN" in reply
        assert await _enrolments(service) == 0
    finally:
        await service.stop()


async def test_audience_marks_people_on_an_unconfigured_channel_not_reachable(
    api: httpx.AsyncClient, service: Coachline
) -> None:
    await ChatDriver(service, channel="sms", user_id="+15550003").send("hi")
    await ChatDriver(service, channel="telegram", user_id="701").ask("hi")

    channels = {
        item["channel"]: item for item in (await api.get("/api/v1/creators/audience")).json()["channels"]
    }

    assert channels["sms"]["accounts"] == 1 and channels["sms"]["reachable"] == 0
    assert channels["sms"]["configured"] is False
    assert channels["sms"]["missing_settings"] == [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_FROM_NUMBER",
    ]
    assert "not configured" in channels["sms"]["not_reachable_reason"]
    assert channels["telegram"]["configured"] is True and channels["telegram"]["reachable"] == 1
    assert channels["telegram"]["not_reachable_reason"] is None
