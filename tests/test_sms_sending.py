"""Sending SMS through the real twilio client against the fake Twilio: errors, parts, segments, settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.foundation.messages import ConversationReference, IncomingMessage, OutgoingMessage
from channels.base import (
    Accepted,
    PermanentSendError,
    RecipientUnreachableError,
    TemporarySendError,
)
from channels.registry import build_channels
from channels.sms.adapter import SmsChannel, SmsConfig
from channels.sms.settings import SmsSettings
from config import Settings
from tests.fakes.twilio_server import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    INVALID_NUMBER,
    SERVER_ERROR,
    TOO_MANY_REQUESTS,
    FakeTwilio,
    run_fake_twilio,
)

CLIENT = "+15550001111"
PUBLIC_URL = "https://coach.example.com"


async def _sink(message: IncomingMessage) -> Accepted:
    return Accepted(1, False)


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    """The fake Twilio REST API."""
    async with run_fake_twilio() as fake:
        yield fake


@pytest.fixture
async def make_channel(twilio: FakeTwilio) -> AsyncIterator[Callable[..., SmsChannel]]:
    """Started SMS channels talking to the fake; stopped (their HTTP sessions closed) afterwards."""
    started: list[SmsChannel] = []

    def make(**overrides: Any) -> SmsChannel:
        values: dict[str, Any] = {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "from_number": FROM_NUMBER,
            "api_url": twilio.url,
            "public_url": PUBLIC_URL,
        }
        values.update(overrides)
        channel = SmsChannel(SmsConfig(**values))
        started.append(channel)
        return channel

    yield make
    for channel in started:
        await channel.stop()


@pytest.fixture
async def channel(make_channel: Callable[..., SmsChannel]) -> SmsChannel:
    """A started channel with the default limits."""
    channel = make_channel()
    await channel.start(_sink)
    return channel


def _to(text: str, number: str = CLIENT) -> OutgoingMessage:
    return OutgoingMessage(ConversationReference("sms", number), text)


async def test_a_message_goes_out_through_the_rest_api(channel: SmsChannel, twilio: FakeTwilio) -> None:
    result = await channel.send(_to("Drink water before your run."))

    (sent,) = twilio.messages
    assert (sent.to, sent.from_, sent.body) == (CLIENT, FROM_NUMBER, "Drink water before your run.")
    assert sent.status_callback == f"{PUBLIC_URL}/webhooks/sms/status"
    assert result.platform_message_id == sent.sid and sent.sid.startswith("SM")


async def test_no_status_callback_without_a_public_url(
    make_channel: Callable[..., SmsChannel], twilio: FakeTwilio
) -> None:
    channel = make_channel(public_url="")
    await channel.start(_sink)

    await channel.send(_to("hi"))

    assert twilio.messages[0].status_callback is None
    assert "COACH_PUBLIC_URL unset" in channel.status().detail


@pytest.mark.parametrize(
    "text",
    ["short", "a" * 161, "€" * 100, "Bravo 🎉 " * 30, "Ünïcödé ☕ " * 200, "x. " * 700],
)
async def test_send_cost_is_the_segments_twilio_bills(
    channel: SmsChannel, twilio: FakeTwilio, text: str
) -> None:
    message = _to(text)

    cost = channel.send_cost(message)
    await channel.send(message)

    assert cost == sum(sent.num_segments for sent in twilio.messages)


async def test_a_long_reply_goes_as_several_messages_in_order(
    make_channel: Callable[..., SmsChannel], twilio: FakeTwilio
) -> None:
    channel = make_channel(max_segments=40)
    await channel.start(_sink)
    text = " ".join(f"Step {index} of the plan is simple." for index in range(120))

    result = await channel.send(_to(text))

    bodies = [sent.body for sent in twilio.messages]
    assert len(bodies) == 3 and all(len(body) <= 1600 for body in bodies)
    assert [body[:4] for body in bodies] == ["1/3 ", "2/3 ", "3/3 "]
    assert " ".join(body[4:] for body in bodies) == text
    assert result.platform_message_id == twilio.messages[-1].sid


async def test_a_retry_after_a_failed_part_sends_only_the_rest(
    make_channel: Callable[..., SmsChannel], twilio: FakeTwilio
) -> None:
    channel = make_channel(max_segments=40)
    await channel.start(_sink)
    message = _to(" ".join(f"Step {index} of the plan is simple." for index in range(80)))  # 2 parts

    original_create = channel._create
    calls = 0

    async def fail_second_part(to: str, body: str) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            twilio.errors.append(SERVER_ERROR)
        return await original_create(to, body)

    channel._create = fail_second_part  # type: ignore[method-assign]
    with pytest.raises(TemporarySendError):
        await channel.send(message)
    await channel.send(message)  # the outbox's retry

    assert [sent.body[:4] for sent in twilio.messages] == ["1/2 ", "2/2 "]  # part one not repeated


async def test_rate_limiting_is_temporary_with_retry_after(channel: SmsChannel, twilio: FakeTwilio) -> None:
    twilio.errors.append(TOO_MANY_REQUESTS)

    with pytest.raises(TemporarySendError) as raised:
        await channel.send(_to("hi"))

    assert raised.value.retry_after == 7.0
    assert "20429" in raised.value.reason


async def test_a_server_error_is_temporary(channel: SmsChannel, twilio: FakeTwilio) -> None:
    twilio.errors.append(SERVER_ERROR)

    with pytest.raises(TemporarySendError):
        await channel.send(_to("hi"))


async def test_twilio_unreachable_is_temporary(
    make_channel: Callable[..., SmsChannel], unused_port: int
) -> None:
    channel = make_channel(api_url=f"http://127.0.0.1:{unused_port}")
    await channel.start(_sink)

    with pytest.raises(TemporarySendError, match="did not answer"):
        await channel.send(_to("hi"))


async def test_an_invalid_number_is_permanent(channel: SmsChannel, twilio: FakeTwilio) -> None:
    twilio.errors.append(INVALID_NUMBER)

    with pytest.raises(PermanentSendError) as raised:
        await channel.send(_to("hi"))

    assert not isinstance(raised.value, RecipientUnreachableError)
    assert "21211" in raised.value.reason


async def test_an_unsubscribed_recipient_is_reported_as_opted_out(
    channel: SmsChannel, twilio: FakeTwilio
) -> None:
    twilio.opted_out.add(CLIENT)

    with pytest.raises(RecipientUnreachableError) as raised:
        await channel.send(_to("hi"))

    assert raised.value.opted_out is True
    assert "21610" in raised.value.reason


async def test_wrong_credentials_fail_and_degrade_the_status(
    make_channel: Callable[..., SmsChannel], twilio: FakeTwilio
) -> None:
    channel = make_channel(auth_token="wrong")
    await channel.start(_sink)

    with pytest.raises(PermanentSendError, match="20003"):
        await channel.send(_to("hi"))

    assert channel.status().state == "degraded"
    assert "credentials" in channel.status().detail
    assert twilio.messages == []


def test_the_channel_is_built_from_the_settings(make_settings: Callable[..., Settings]) -> None:
    own = SmsSettings.of(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=FROM_NUMBER,
        segments_per_second=3.0,
        reply_chars=300,
    )

    channel = build_channels(make_settings(), ["sms"], channel_settings={"sms": own})["sms"]

    assert isinstance(channel, SmsChannel)
    assert channel.limits.overall_rate == 3.0 and channel.limits.per_chat_rate is None
    assert channel.limits.reply_chars_target == 300
    assert channel.capabilities.max_message_chars == 1600 and not channel.capabilities.buttons
    # Off without TWILIO_FROM_NUMBER, even with the account's credentials (WhatsApp may use them).
    credentials_only = SmsSettings.of(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    assert build_channels(make_settings(), ["sms"], channel_settings={"sms": credentials_only}) == {}


def test_sms_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="SMS_MAX_SEGMENTS"):
        SmsSettings.of(SMS_MAX_SEGMENTS=0)
    with pytest.raises(ValueError, match="SMS_SEGMENTS_PER_SECOND"):
        SmsSettings.of(SMS_SEGMENTS_PER_SECOND=0)
    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN"):
        SmsSettings.of(from_number=FROM_NUMBER, account_sid=ACCOUNT_SID)


async def test_a_send_after_stop_is_retried_later_without_leaking_a_session(channel: SmsChannel) -> None:
    await channel.stop()

    with pytest.raises(TemporarySendError, match="stopping"):
        await channel.send(_to("hi"))
