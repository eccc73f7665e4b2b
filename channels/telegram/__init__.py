"""The Telegram channel (python-telegram-bot 22): long polling by default, or a webhook.

`TELEGRAM_BOT_TOKEN` switches it on; `TELEGRAM_WEBHOOK_SECRET` plus `COACH_PUBLIC_URL` select webhook
mode (`POST /webhooks/telegram`). See docs/channels/telegram.md.
"""

from __future__ import annotations

from channels.base import Channel
from channels.registry import register_channel
from channels.telegram.adapter import TelegramChannel
from config import Settings

__all__ = ["TelegramChannel"]


@register_channel("telegram")
def _telegram(settings: Settings) -> Channel | None:
    if not settings.telegram_bot_token:
        return None
    return TelegramChannel.from_settings(settings)
