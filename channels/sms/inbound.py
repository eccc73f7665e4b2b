"""An inbound SMS/MMS webhook as an `IncomingMessage` (see `channels.twilio.inbound`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.foundation.messages import IncomingMessage
from channels.sms.keywords import keyword_command
from channels.twilio import inbound
from channels.twilio.signature import SIGNATURE_HEADER, is_signed_by_twilio, signed_url

CHANNEL = "sms"

__all__ = ["CHANNEL", "SIGNATURE_HEADER", "is_signed_by_twilio", "signed_url", "to_incoming"]


def to_incoming(form: Mapping[str, str], received_at: datetime) -> IncomingMessage | None:
    """The normalised message of an inbound SMS/MMS webhook; None when it is not one.

    A message that is exactly a compliance keyword becomes its command ("STOP" → "/optout"), as does
    a `#`-prefixed command ("#join Sleep" → "/join Sleep").
    """
    return inbound.to_incoming(form, received_at, channel=CHANNEL, command_of=keyword_command)
