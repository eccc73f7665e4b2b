"""The Slack channel's settings: `SLACK_*`, as DESIGN.md names them."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from channels.plugin import ChannelSettings
from config.settings import require_http_url


class SlackSettings(ChannelSettings):
    """A bot token switches the channel on; an app token selects Socket Mode, else the Events API."""

    model_config = SettingsConfigDict(env_prefix="SLACK_")
    required = (("bot_token",), ("signing_secret", "app_token"))

    bot_token: str = ""
    signing_secret: str = ""
    app_token: str = ""
    api_url: str = "https://slack.com/api/"
    channel_rate: float = Field(
        1.0, gt=0, description="Messages a second the bot posts to one Slack channel (Slack allows ~1)."
    )

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        require_http_url(value)
        return value

    @model_validator(mode="after")
    def _check_receiving(self) -> SlackSettings:
        if self.bot_token and not self.signing_secret and not self.app_token:
            raise ValueError(
                "SLACK_BOT_TOKEN is set: SLACK_SIGNING_SECRET (Events API) or SLACK_APP_TOKEN "
                "(Socket Mode) is needed too"
            )
        return self
