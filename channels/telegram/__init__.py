"""The Telegram channel (python-telegram-bot 22): long polling by default, or a webhook.

`TELEGRAM_BOT_TOKEN` switches it on; `TELEGRAM_WEBHOOK_SECRET` plus `COACH_PUBLIC_URL` select webhook
mode (`POST /webhooks/telegram`). See docs/channels/telegram.md. The adapter (and python-telegram-bot)
is imported only when the channel is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from channels.plugin import Capabilities, ChannelPlugin, CommandSyntax
from channels.telegram.formatting import MAX_MESSAGE_CHARS
from channels.telegram.settings import TelegramSettings

if TYPE_CHECKING:
    from channels.base import Channel
    from config import Settings

CAPABILITIES = Capabilities(buttons=True, command_menu=True, typing=True, max_message_chars=MAX_MESSAGE_CHARS)


def _build(settings: Settings, own: TelegramSettings) -> Channel | None:
    if not own.bot_token:
        return None
    from channels.telegram.adapter import TelegramChannel

    return TelegramChannel.from_settings(settings, own)


plugin = ChannelPlugin(
    name="telegram",
    build=_build,
    settings=TelegramSettings,
    capabilities=CAPABILITIES,
    syntax=CommandSyntax("/"),
)
