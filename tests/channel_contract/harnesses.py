"""The channels' harnesses: each built-in adapter against the fake of its platform, and the recipe's
example channel (`example_channel.py`), which is not built in."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from bot.foundation.messages import ConversationReference
from channels import registry
from channels.base import Channel
from channels.slack.adapter import SlackChannel
from channels.slack.settings import SlackSettings
from channels.sms.adapter import SmsChannel, SmsConfig
from channels.telegram.adapter import TelegramChannel
from channels.twilio.channel import TwilioAccount, TwilioChannel
from channels.whatsapp.adapter import WhatsAppChannel, WhatsAppConfig
from config import Settings
from tests.channel_contract import example_channel as hookchat
from tests.channel_contract.example_channel import FakeHookchat, run_fake_hookchat
from tests.channel_contract.example_channel import sign as hookchat_sign
from tests.channel_contract.harness import ChannelHarness, RecordingInbox, Refusal, harness, started
from tests.fakes.slack_server import FakeSlack, run_fake_slack, slack_request_headers
from tests.fakes.telegram_server import (
    FakeTelegram,
    blocked,
    chat_not_found,
    flood,
    run_fake_telegram,
)
from tests.fakes.twilio_server import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    INVALID_NUMBER,
    TOO_MANY_REQUESTS,
    UNSUBSCRIBED,
    WHATSAPP_NUMBER,
    FakeError,
    FakeTwilio,
    run_fake_twilio,
)

PUBLIC_URL = "https://coach.example.com"
SECRET = "contract-secret"


class TelegramHarness(ChannelHarness):
    """Telegram in webhook mode against the fake Bot API."""

    name = "telegram"
    chat_id = 12345678

    def __init__(self, channel: TelegramChannel, inbox: RecordingInbox, telegram: FakeTelegram) -> None:
        super().__init__(channel, inbox)
        self.telegram = telegram

    def address(self) -> ConversationReference:
        return ConversationReference(self.name, str(self.chat_id))

    async def deliver(self, message_id: str, text: str, *, signed: bool = True) -> httpx.Response:
        person = {"id": self.chat_id, "is_bot": False, "first_name": "Sam"}
        update = {
            "update_id": int(message_id),
            "message": {
                "message_id": int(message_id),
                "date": int(time.time()),
                "chat": {**person, "type": "private"},
                "from": person,
                "text": text,
            },
        }
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET if signed else "forged"}
        return await self.http.post("/webhooks/telegram", json=update, headers=headers)

    def refuse_next_send(self, refusal: Refusal) -> None:
        error = {Refusal.RATE_LIMITED: flood(7), Refusal.RECIPIENT_GONE: blocked()}.get(
            refusal, chat_not_found()
        )
        self.telegram.fail_next("sendMessage", error)

    def sent(self) -> list[str]:
        return self.telegram.sent_texts()


@harness("telegram")
@asynccontextmanager
async def telegram_harness() -> AsyncIterator[ChannelHarness]:
    """The Telegram adapter in webhook mode on the fake Bot API."""
    async with run_fake_telegram() as telegram:
        channel = TelegramChannel(
            telegram.token, api_url=telegram.url, webhook_secret=SECRET, public_url=PUBLIC_URL
        )
        async with started(TelegramHarness(channel, RecordingInbox(), telegram)) as running:
            yield running


class SlackHarness(ChannelHarness):
    """Slack over the Events API against the fake Web API."""

    name = "slack"
    user_id = "U111"

    def __init__(self, channel: SlackChannel, inbox: RecordingInbox, slack: FakeSlack) -> None:
        super().__init__(channel, inbox)
        self.slack = slack

    def address(self) -> ConversationReference:
        return ConversationReference(self.name, self.user_id)  # a DM addressed by the person's id

    async def deliver(self, message_id: str, text: str, *, signed: bool = True) -> httpx.Response:
        ts = f"{int(time.time())}.000100"
        body = json.dumps(
            {
                "token": "verification-token",
                "team_id": self.slack.team_id,
                "api_app_id": "A111",
                "type": "event_callback",
                "event_id": message_id,
                "event_time": int(time.time()),
                "event": {
                    "type": "message",
                    "channel": "D0DM",
                    "channel_type": "im",
                    "user": self.user_id,
                    "text": text,
                    "ts": ts,
                    "event_ts": ts,
                },
                "authorizations": [
                    {"team_id": self.slack.team_id, "user_id": self.slack.bot_user_id, "is_bot": True}
                ],
            }
        ).encode()
        headers = slack_request_headers(SECRET if signed else "forged-secret", body)
        return await self.http.post("/webhooks/slack", content=body, headers=headers)

    def refuse_next_send(self, refusal: Refusal) -> None:
        failure = {
            Refusal.RATE_LIMITED: (429, "ratelimited", {"Retry-After": "30"}),
            Refusal.RECIPIENT_GONE: (200, "user_not_found", {}),
            Refusal.REJECTED: (200, "msg_too_long", {}),
        }[refusal]
        self.slack.post_failures.append(failure)

    def sent(self) -> list[str]:
        return [str(post.get("text")) for post in self.slack.posts]


@harness("slack")
@asynccontextmanager
async def slack_harness() -> AsyncIterator[ChannelHarness]:
    """The Slack adapter (Events API) on the fake Web API."""
    async with run_fake_slack() as slack:
        channel = SlackChannel(
            SlackSettings.of(bot_token=slack.bot_token, signing_secret=SECRET, api_url=slack.api_url)
        )
        async with started(SlackHarness(channel, RecordingInbox(), slack)) as running:
            yield running


class TwilioHarness(ChannelHarness):
    """A Twilio channel (SMS or WhatsApp) against the fake Twilio."""

    opt_out_text = "STOP"

    def __init__(
        self,
        channel: TwilioChannel,
        inbox: RecordingInbox,
        twilio: FakeTwilio,
        *,
        number: str,
        address_prefix: str = "",
        gone: FakeError = UNSUBSCRIBED,
    ) -> None:
        super().__init__(channel, inbox)
        self.name = channel.name
        self.twilio = twilio
        self.number = number
        self.address_prefix = address_prefix
        self.gone = gone

    def address(self) -> ConversationReference:
        return ConversationReference(self.name, self.number)

    async def deliver(self, message_id: str, text: str, *, signed: bool = True) -> httpx.Response:
        assert isinstance(self.channel, TwilioChannel)
        params = {
            "MessageSid": message_id,
            "SmsMessageSid": message_id,
            "AccountSid": ACCOUNT_SID,
            "From": self.address_prefix + self.number,
            "To": WHATSAPP_NUMBER if self.address_prefix else FROM_NUMBER,
            "Body": text,
            "NumMedia": "0",
            "ApiVersion": "2010-04-01",
        }
        path = self.channel.webhook_path
        signature = self.twilio.sign(f"{PUBLIC_URL}{path}", params) if signed else "Zm9yZ2VkIHNpZ25hdHVyZQ=="
        return await self.http.post(path, data=params, headers={"X-Twilio-Signature": signature})

    def refuse_next_send(self, refusal: Refusal) -> None:
        error = {
            Refusal.RATE_LIMITED: TOO_MANY_REQUESTS,
            Refusal.RECIPIENT_GONE: self.gone,
            Refusal.REJECTED: INVALID_NUMBER,
        }[refusal]
        self.twilio.errors.append(error)

    def sent(self) -> list[str]:
        return [message.body for message in self.twilio.messages]


@harness("sms")
@asynccontextmanager
async def sms_harness() -> AsyncIterator[ChannelHarness]:
    """The SMS adapter on the fake Twilio."""
    async with run_fake_twilio() as twilio:
        # Room for several messages (the default cap cuts a reply to ten segments, one message).
        config = SmsConfig(
            ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_url=twilio.url, public_url=PUBLIC_URL, max_segments=40
        )
        running_harness = TwilioHarness(SmsChannel(config), RecordingInbox(), twilio, number="+15550001111")
        async with started(running_harness) as running:
            yield running


@harness("whatsapp")
@asynccontextmanager
async def whatsapp_harness() -> AsyncIterator[ChannelHarness]:
    """The WhatsApp adapter on the fake Twilio, with the person's 24-hour window open."""
    async with run_fake_twilio() as twilio:
        number = "+31612345678"
        channel = WhatsAppChannel(
            WhatsAppConfig(TwilioAccount(ACCOUNT_SID, AUTH_TOKEN, twilio.url, PUBLIC_URL), WHATSAPP_NUMBER)
        )
        twilio.open_windows.add(f"whatsapp:{number}")
        channel.windows.wrote(number)
        gone = FakeError(400, 63024, "Invalid message recipient")
        running_harness = TwilioHarness(
            channel, RecordingInbox(), twilio, number=number, address_prefix="whatsapp:", gone=gone
        )
        async with started(running_harness) as running:
            yield running


class HookchatHarness(ChannelHarness):
    """The recipe's example channel against its fake API."""

    name = "hookchat"
    secret = "hookchat-secret"

    def __init__(self, channel: Channel, inbox: RecordingInbox, fake: FakeHookchat) -> None:
        super().__init__(channel, inbox)
        self.fake = fake
        self.opt_out_text = "UNSUBSCRIBE"

    def address(self) -> ConversationReference:
        return ConversationReference(self.name, "hc-user-1")

    async def deliver(self, message_id: str, text: str, *, signed: bool = True) -> httpx.Response:
        body = json.dumps({"id": message_id, "from": "hc-user-1", "text": text}).encode()
        signature = hookchat_sign(self.secret if signed else "guess", body)
        return await self.http.post(
            "/webhooks/hookchat", content=body, headers={"X-Hookchat-Signature": signature}
        )

    def refuse_next_send(self, refusal: Refusal) -> None:
        status = {Refusal.RATE_LIMITED: 429, Refusal.RECIPIENT_GONE: 403, Refusal.REJECTED: 400}[refusal]
        self.fake.refusals.append((status, {"Retry-After": "3"}))

    def sent(self) -> list[str]:
        return [str(message["text"]) for message in self.fake.sent]


@asynccontextmanager
async def hookchat_harness() -> AsyncIterator[ChannelHarness]:
    """The example channel, registered in-process as an installed plugin would be, on its fake API."""
    registry.register(hookchat.plugin)
    try:
        async with run_fake_hookchat() as (fake, url):
            own = hookchat.HookchatSettings.of(token=fake.token, secret=HookchatHarness.secret, api_url=url)
            core = Settings(_env_file=None)  # type: ignore[call-arg]
            channel = registry.build_channels(core, ["hookchat"], channel_settings={"hookchat": own})
            async with started(HookchatHarness(channel["hookchat"], RecordingInbox(), fake)) as running:
                yield running
    finally:
        registry.unregister(hookchat.plugin.name)


harness("hookchat")(hookchat_harness)
