"""The SMS channel (Twilio): on when TWILIO_ACCOUNT_SID is set. See docs/channels/sms.md.

The adapter (and with it the twilio library and aiohttp) is imported only when the channel is on:
loading the registry should not cost a third of a second for a channel that is off.
"""

from __future__ import annotations

from channels.base import Channel
from channels.registry import register_channel
from config import Settings


@register_channel("sms")
def _sms(settings: Settings) -> Channel | None:
    if not settings.twilio_account_sid:
        return None
    from channels.sms.adapter import SmsChannel, SmsConfig

    return SmsChannel(SmsConfig.from_settings(settings))
