"""The Telegram channel's settings: `TELEGRAM_*`, as DESIGN.md names them."""

from __future__ import annotations

import re

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from channels.plugin import ChannelSettings
from config.settings import require_http_url


class TelegramSettings(ChannelSettings):
    """A token switches the channel on; a webhook secret plus `COACH_PUBLIC_URL` selects webhook mode."""

    model_config = SettingsConfigDict(env_prefix="TELEGRAM_")
    required = (("bot_token",),)

    bot_token: str = ""
    api_url: str = "https://api.telegram.org"
    webhook_secret: str = ""
    chat_rate: float = Field(1.0, gt=0, description="Messages a second the bot sends to one Telegram chat.")
    global_rate: float = Field(30.0, gt=0, description="Messages a second the bot sends on Telegram overall.")

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        require_http_url(value)
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_secret(cls, value: str) -> str:
        # Telegram refuses other secrets in setWebhook; better to say so at start.
        if value and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ValueError("use 1-256 characters A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value
