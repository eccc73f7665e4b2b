"""The Slack channel (slack-bolt's `AsyncApp`): see docs/channels/slack.md.

Switched on by `SLACK_BOT_TOKEN`, with `SLACK_SIGNING_SECRET` for the Events API at
`POST /webhooks/slack` or `SLACK_APP_TOKEN` for Socket Mode.
"""

from __future__ import annotations

from channels.base import Channel
from channels.registry import register_channel
from config import Settings


@register_channel("slack")
def _slack(settings: Settings) -> Channel | None:
    if not settings.slack_bot_token:
        return None
    # Late: Bolt and aiohttp load only when the channel is switched on.
    from channels.slack.adapter import SlackChannel

    return SlackChannel(settings)
