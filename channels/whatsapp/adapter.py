"""The WhatsApp channel over Twilio's WhatsApp sender: `POST /webhooks/whatsapp` in, the REST API out.

Everything a Twilio channel shares (signed webhooks against `COACH_PUBLIC_URL` + the path, the REST
client and its errors, delivery reports, media downloads) comes from `channels.twilio.channel`.
WhatsApp adds its addresses (`whatsapp:+…`, stored as the bare number, so that a person is
`whatsapp:+1555…` in `COACH_ADMINS`), media out, and the 24-hour customer-service window: a free-form
message may only go out within 24 hours of the person's last message; outside it the message goes as
the approved template `WHATSAPP_TEMPLATE_SID`, or, with none configured, fails with that reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.foundation.messages import IncomingMessage, OutgoingMessage
from channels.base import ChannelLimits, PermanentSendError, RecipientUnreachableError, SendError, SendResult
from channels.twilio import inbound
from channels.twilio.channel import TwilioAccount, TwilioChannel
from channels.twilio.client import TwilioRefusalError
from channels.twilio.keywords import compliance_command
from channels.twilio.parts import PartsSent
from channels.whatsapp import CAPABILITIES, CHANNEL
from channels.whatsapp.formatting import render, template_text
from channels.whatsapp.session import SessionWindows, Window
from channels.whatsapp.settings import ADDRESS_PREFIX, WhatsAppSettings
from config import Settings

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp"
STATUS_PATH = "/webhooks/whatsapp/status"
OUTSIDE_WINDOW = 63016  # Twilio: a free-form message outside the 24-hour window
DELIVERY_ERRORS = {
    "63016": "outside WhatsApp's 24-hour window: only an approved template may be sent",
    "63003": "the number is not on WhatsApp",
    "63024": "invalid recipient",
    "63032": "WhatsApp will not deliver to this user (they blocked the business or limits apply)",
    "63049": "Meta chose not to deliver this marketing message",
}
UNREACHABLE = frozenset({"63003", "63024", "63032"})
NO_TEMPLATE = (
    "outside WhatsApp's 24-hour window (the person has not written in the last 24 hours) and no "
    "WHATSAPP_TEMPLATE_SID is set to send an approved template instead"
)


@dataclass(frozen=True, slots=True)
class WhatsAppConfig:
    """What the WhatsApp channel needs from the settings."""

    account: TwilioAccount
    from_number: str  # whatsapp:+…
    template_sid: str = ""
    template_variable: str = "1"
    messages_per_second: float = 20.0

    @classmethod
    def from_settings(cls, settings: Settings, own: WhatsAppSettings) -> WhatsAppConfig:
        """The channel's settings (TWILIO_*, WHATSAPP_*) and the core's COACH_PUBLIC_URL."""
        return cls(
            account=TwilioAccount(own.account_sid, own.auth_token, own.api_url, settings.public_url),
            from_number=own.whatsapp_from_number,
            template_sid=own.template_sid,
            template_variable=own.template_variable,
            messages_per_second=own.messages_per_second,
        )


class WhatsAppChannel(TwilioChannel):
    """WhatsApp through Twilio: chat, media both ways, program steps as templates outside the window."""

    name = CHANNEL
    capabilities = CAPABILITIES
    webhook_path = WEBHOOK_PATH
    status_path = STATUS_PATH
    delivery_errors = DELIVERY_ERRORS
    unreachable_codes = UNREACHABLE

    def __init__(self, config: WhatsAppConfig, *, now: Callable[[], datetime] | None = None) -> None:
        super().__init__(config.account)
        self.config = config
        self.limits = ChannelLimits(overall_rate=config.messages_per_second)
        self.windows = SessionWindows(now or (lambda: datetime.now(UTC)))
        self._parts_sent = PartsSent()

    # --- receiving ----------------------------------------------------------------------------

    def parse(self, form: Mapping[str, str], received_at: datetime) -> IncomingMessage | None:
        """An inbound WhatsApp message: the sender as a bare number, STOP/START/HELP as commands."""
        return inbound.to_incoming(
            form,
            received_at,
            channel=CHANNEL,
            command_of=compliance_command,
            address_prefix=ADDRESS_PREFIX,
            media_prefix=CHANNEL,
        )

    def received(self, message: IncomingMessage) -> None:
        """The person wrote: their 24-hour window is open."""
        self.windows.wrote(message.user_id)

    def status_reported(self, form: Mapping[str, str]) -> None:
        """A free-form message failed for the window (63016): send templates until they write again."""
        if form.get("ErrorCode") == str(OUTSIDE_WINDOW):
            self.windows.closed(form.get("To", "").removeprefix(ADDRESS_PREFIX))

    # --- sending ------------------------------------------------------------------------------

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Send free-form within the window (text parts, then each file), else the template."""
        number = message.conversation.chat_id
        # A reply answers a message the person has just sent: the window is open.
        window = Window.OPEN if message.reply_to_message_id else self.windows.state(number)
        if window is not Window.OPEN and self.config.template_sid:
            return await self._send_template(number, message)
        if window is Window.CLOSED:
            raise PermanentSendError(NO_TEMPLATE)
        try:
            return await self._send_free_form(number, message)
        except TwilioRefusalError as failure:
            if failure.code != OUTSIDE_WINDOW:
                raise self.send_error(failure) from failure
            self.windows.closed(number)
            if self.config.template_sid:
                return await self._send_template(number, message)
            raise PermanentSendError(f"{NO_TEMPLATE} ({failure.reason})") from failure

    async def _send_free_form(self, number: str, message: OutgoingMessage) -> SendResult:
        items = [(part, "") for part in render(message)] + [("", url) for url in message.media_urls]
        if not items:
            raise PermanentSendError("nothing to send: the message is empty")
        key = (number, tuple(f"{text}\0{url}" for text, url in items))
        already, last_sid = self._parts_sent.get(key)
        for index in range(already, len(items)):
            text, url = items[index]
            params: dict[str, object] = {"to": ADDRESS_PREFIX + number, "from_": self.config.from_number}
            if text:
                params["body"] = text
            if url:
                # WhatsApp carries one file a message.
                params["media_url"] = [url]
            last_sid = await self.create(params)
            if index + 1 < len(items):
                self._parts_sent.record(key, index + 1, last_sid)
        self._parts_sent.forget(key)
        return SendResult(platform_message_id=last_sid)

    async def _send_template(self, number: str, message: OutgoingMessage) -> SendResult:
        variables = {self.config.template_variable: template_text(message)}
        try:
            sid = await self.create(
                {
                    "to": ADDRESS_PREFIX + number,
                    "from_": self.config.from_number,
                    "content_sid": self.config.template_sid,
                    "content_variables": json.dumps(variables),
                }
            )
        except TwilioRefusalError as failure:
            raise self.send_error(failure) from failure
        log.info("WhatsApp: %s is outside the 24-hour window; sent the approved template", number)
        return SendResult(platform_message_id=sid)

    def send_error(self, failure: TwilioRefusalError) -> SendError:
        """As for SMS, and WhatsApp's own codes for a person who cannot be reached."""
        if failure.code is not None and str(failure.code) in UNREACHABLE:
            return RecipientUnreachableError(failure.reason)
        return super().send_error(failure)

    def send_cost(self, message: OutgoingMessage) -> int:
        """The Twilio messages the reply uses: its text parts and one a file."""
        return max(1, len(render(message)) + len(message.media_urls))

    def describe_sender(self) -> str:
        """The sender and whether steps outside the window have a template."""
        template = (
            f"template {self.config.template_sid} outside the 24-hour window"
            if self.config.template_sid
            else "no WHATSAPP_TEMPLATE_SID: messages outside the 24-hour window fail"
        )
        return f"Twilio WhatsApp sender {self.config.from_number}, {template}"
