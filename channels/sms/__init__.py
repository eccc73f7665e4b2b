"""The SMS channel (Twilio): on when `TWILIO_FROM_NUMBER` is set. See docs/channels/sms.md.

Commands are typed `#stats` (the adapter turns that into `/stats`): a slash is awkward on phone
keyboards. STOP, START and HELP stay the carriers' bare keywords (opt out, opt in, help).
The adapter (and with it the twilio library and aiohttp) is imported only when the channel is on:
loading the registry should not cost a third of a second for a channel that is off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from channels.plugin import Capabilities, ChannelPlugin, CommandSyntax
from channels.sms.keywords import COMMAND_PREFIX
from channels.sms.segments import MAX_MESSAGE_UNITS
from channels.sms.settings import SmsSettings

if TYPE_CHECKING:
    from channels.base import Channel
    from config import Settings

CAPABILITIES = Capabilities(max_message_chars=MAX_MESSAGE_UNITS)
SYNTAX = CommandSyntax(
    prefix=COMMAND_PREFIX,
    help_footer="Text STOP to stop all messages, START to get them again, HELP for this list.",
    opted_in="You're subscribed again. Reply HELP for help, STOP to opt out.",
)


def _build(settings: Settings, own: SmsSettings) -> Channel | None:
    if not own.from_number:
        return None
    from channels.sms.adapter import SmsChannel, SmsConfig

    return SmsChannel(SmsConfig.from_settings(settings, own))


plugin = ChannelPlugin(
    name="sms", build=_build, settings=SmsSettings, capabilities=CAPABILITIES, syntax=SYNTAX
)
