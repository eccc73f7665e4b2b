"""The Slack channel (slack-bolt's `AsyncApp`): see docs/channels/slack.md.

Switched on by `SLACK_BOT_TOKEN`, with `SLACK_SIGNING_SECRET` for the Events API at
`POST /webhooks/slack` or `SLACK_APP_TOKEN` for Socket Mode. Commands are typed after the app's one
slash command (`/coach stats`); in a direct message Slack itself takes anything starting with `/` as
a slash command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from channels.plugin import Capabilities, ChannelPlugin, CommandSyntax
from channels.slack.formatting import PART_CHARS
from channels.slack.settings import SlackSettings

if TYPE_CHECKING:
    from channels.base import Channel
    from config import Settings

SLASH_COMMAND = "/coach"
CAPABILITIES = Capabilities(buttons=True, max_message_chars=PART_CHARS)


def _build(settings: Settings, own: SlackSettings) -> Channel | None:
    if not own.bot_token:
        return None
    # Late: Bolt and aiohttp load only when the channel is switched on.
    from channels.slack.adapter import SlackChannel

    return SlackChannel(own)


plugin = ChannelPlugin(
    name="slack",
    build=_build,
    settings=SlackSettings,
    capabilities=CAPABILITIES,
    syntax=CommandSyntax(prefix=f"{SLASH_COMMAND} "),
)
