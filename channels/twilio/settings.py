"""The Twilio credentials and API URL (`TWILIO_*`), shared by the SMS and WhatsApp channels."""

from __future__ import annotations

from pydantic import field_validator
from pydantic_settings import SettingsConfigDict

from channels.plugin import ChannelSettings
from config.settings import require_http_url


class TwilioSettings(ChannelSettings):
    """`TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`, `TWILIO_API_URL`; each channel adds its sender."""

    model_config = SettingsConfigDict(env_prefix="TWILIO_")

    account_sid: str = ""
    auth_token: str = ""
    api_url: str = "https://api.twilio.com"

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        require_http_url(value)
        return value

    def credentials_problem(self, sender_variable: str, sender: str) -> str | None:
        """Why a channel whose sender is set cannot run (credentials missing), else None."""
        if sender and not (self.account_sid and self.auth_token):
            return f"{sender_variable} is set: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed too"
        return None
