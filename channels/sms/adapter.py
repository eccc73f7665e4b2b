"""The SMS channel: Twilio webhooks in, the Twilio REST API (through the `twilio` library) out.

What every Twilio channel shares (signed webhooks, the REST client, delivery reports, media) is in
`channels.twilio.channel`. SMS adds: sends are paced by segment (`send_cost`), a reply too long for one
message goes as several, and Twilio's error 21610 (the number texted STOP) marks the person opted out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.foundation.messages import IncomingMessage, OutgoingMessage
from channels.base import ChannelLimits, PermanentSendError, SendResult
from channels.sms import CAPABILITIES
from channels.sms.formatting import SmsText, render
from channels.sms.inbound import CHANNEL, to_incoming
from channels.sms.settings import SmsSettings
from channels.twilio.channel import EMPTY_TWIML, TwilioAccount, TwilioChannel
from channels.twilio.client import TwilioRefusalError
from channels.twilio.parts import PartsSent
from config import Settings

__all__ = ["EMPTY_TWIML", "STATUS_PATH", "WEBHOOK_PATH", "SmsChannel", "SmsConfig"]

WEBHOOK_PATH = "/webhooks/sms"
STATUS_PATH = "/webhooks/sms/status"
UNREACHABLE_NUMBERS = frozenset({"30005", "30006"})  # unknown handset; landline or unreachable carrier
DELIVERY_ERRORS = {
    "21610": "the recipient opted out (STOP)",
    "30003": "unreachable handset",
    "30004": "message blocked",
    "30005": "unknown handset",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier",
    "30008": "unknown error",
}


@dataclass(frozen=True, slots=True)
class SmsConfig:
    """What the SMS channel needs from the settings."""

    account_sid: str
    auth_token: str
    from_number: str
    api_url: str = "https://api.twilio.com"
    public_url: str = ""
    segments_per_second: float = 1.0
    max_segments: int = 10
    reply_chars: int = 480

    @classmethod
    def from_settings(cls, settings: Settings, own: SmsSettings) -> SmsConfig:
        """The channel's settings (TWILIO_*, SMS_*) and the core's COACH_PUBLIC_URL."""
        return cls(
            account_sid=own.account_sid,
            auth_token=own.auth_token,
            from_number=own.from_number,
            api_url=own.api_url,
            public_url=settings.public_url,
            segments_per_second=own.segments_per_second,
            max_segments=own.max_segments,
            reply_chars=own.reply_chars,
        )


class SmsChannel(TwilioChannel):
    """SMS and MMS through Twilio."""

    name = CHANNEL
    capabilities = CAPABILITIES
    webhook_path = WEBHOOK_PATH
    status_path = STATUS_PATH
    delivery_errors = DELIVERY_ERRORS
    unreachable_codes = UNREACHABLE_NUMBERS

    def __init__(self, config: SmsConfig) -> None:
        super().__init__(
            TwilioAccount(config.account_sid, config.auth_token, config.api_url, config.public_url)
        )
        self.config = config
        self.limits = ChannelLimits(
            overall_rate=config.segments_per_second,  # one sending number: its rate is the channel's
            per_chat_rate=None,
            reply_chars_target=config.reply_chars,
        )
        self._parts_sent = PartsSent()

    def parse(self, form: Mapping[str, str], received_at: datetime) -> IncomingMessage | None:
        """An inbound SMS/MMS (keywords and `#commands` read as commands)."""
        return to_incoming(form, received_at)

    # --- sending ------------------------------------------------------------------------------

    def render(self, message: OutgoingMessage) -> SmsText:
        """The message as the SMS text that will be sent, within `SMS_MAX_SEGMENTS`."""
        return render(message, max_segments=self.config.max_segments)

    def send_cost(self, message: OutgoingMessage) -> int:
        """The SMS segments the message will use: what the outbox paces the sending number by."""
        return max(1, self.render(message).segments)

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Send the message as one Twilio message, or several in order when it is over 1,600 characters.

        Returns the SID of the last part: its status callback is the one stored on the outbox row.
        """
        parts = self.render(message).parts
        if not parts:
            raise PermanentSendError("nothing to send: the message is empty")
        to = message.conversation.chat_id
        key = (to, parts)
        already, last_sid = self._parts_sent.get(key)
        for index in range(already, len(parts)):
            last_sid = await self._create(to, parts[index])
            if index + 1 < len(parts):
                self._parts_sent.record(key, index + 1, last_sid)
        self._parts_sent.forget(key)
        return SendResult(platform_message_id=last_sid)

    async def _create(self, to: str, body: str) -> str:
        try:
            return await self.create({"to": to, "from_": self.config.from_number, "body": body})
        except TwilioRefusalError as failure:
            raise self.send_error(failure) from failure

    def describe_sender(self) -> str:
        """The number and its pace."""
        return f"Twilio number {self.config.from_number}, {self.config.segments_per_second:g} segment(s)/s"
