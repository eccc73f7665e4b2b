"""The SMS channel's settings: the Twilio credentials, `TWILIO_FROM_NUMBER` and `SMS_*`."""

from __future__ import annotations

from pydantic import Field, model_validator

from channels.twilio.settings import TwilioSettings


class SmsSettings(TwilioSettings):
    """On when `TWILIO_FROM_NUMBER` is set (with the account's credentials)."""

    required = (("account_sid",), ("auth_token",), ("from_number",))

    from_number: str = ""
    segments_per_second: float = Field(
        1.0,
        gt=0,
        validation_alias="SMS_SEGMENTS_PER_SECOND",
        description="SMS segments sent per second from TWILIO_FROM_NUMBER (a long code manages ~1).",
    )
    max_segments: int = Field(
        10,
        ge=1,
        validation_alias="SMS_MAX_SEGMENTS",
        description="Most segments one SMS reply may use; longer replies are cut at a sentence.",
    )
    reply_chars: int = Field(
        480, ge=70, validation_alias="SMS_REPLY_CHARS", description="The answer length asked for on SMS."
    )

    @model_validator(mode="after")
    def _check_credentials(self) -> SmsSettings:
        problem = self.credentials_problem("TWILIO_FROM_NUMBER", self.from_number)
        if problem:
            raise ValueError(problem)
        return self
