"""The WhatsApp channel over Twilio's WhatsApp sender: on when `WHATSAPP_FROM_NUMBER` is set.

It uses the `TWILIO_*` credentials and API URL (SMS may run beside it, or not: `TWILIO_FROM_NUMBER`
is SMS's). Webhooks arrive at `POST /webhooks/whatsapp`, signed like SMS's. Commands are typed
`/stats`; STOP and START opt out and back in. See docs/channels/whatsapp.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from channels.plugin import Capabilities, ChannelPlugin, CommandSyntax
from channels.sms.segments import MAX_MESSAGE_UNITS
from channels.whatsapp.settings import WhatsAppSettings

if TYPE_CHECKING:
    from channels.base import Channel
    from config import Settings

CHANNEL = "whatsapp"
CAPABILITIES = Capabilities(max_message_chars=MAX_MESSAGE_UNITS)
SYNTAX = CommandSyntax(
    prefix="/",
    help_footer="Send STOP to stop all messages, START to get them again.",
    opted_in="You're subscribed again. Send STOP to stop all messages from me.",
)


def _build(settings: Settings, own: WhatsAppSettings) -> Channel | None:
    if not own.whatsapp_from_number:
        return None
    # Late: twilio and aiohttp load only when the channel is switched on.
    from channels.whatsapp.adapter import WhatsAppChannel, WhatsAppConfig

    return WhatsAppChannel(WhatsAppConfig.from_settings(settings, own))


plugin = ChannelPlugin(
    name=CHANNEL, build=_build, settings=WhatsAppSettings, capabilities=CAPABILITIES, syntax=SYNTAX
)
