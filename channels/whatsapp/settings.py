"""The WhatsApp channel's settings: the Twilio credentials, `WHATSAPP_FROM_NUMBER` and its template."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from channels.twilio.settings import TwilioSettings

ADDRESS_PREFIX = "whatsapp:"


class WhatsAppSettings(TwilioSettings):
    """On when `WHATSAPP_FROM_NUMBER` is set (with the account's credentials; no TWILIO_FROM_NUMBER).

    Outside WhatsApp's 24-hour session window only an approved template may be sent:
    `WHATSAPP_TEMPLATE_SID` is its content SID (HX…), whose variable `WHATSAPP_TEMPLATE_VARIABLE`
    receives the message's text.
    """

    required = (("account_sid",), ("auth_token",), ("whatsapp_from_number",))

    whatsapp_from_number: str = Field(
        "",
        validation_alias="WHATSAPP_FROM_NUMBER",
        description="The Twilio WhatsApp sender, e.g. whatsapp:+14155238886.",
    )
    template_sid: str = Field(
        "",
        validation_alias="WHATSAPP_TEMPLATE_SID",
        description="Content SID of the approved template sent outside the 24-hour window.",
    )
    template_variable: str = Field(
        "1",
        min_length=1,
        validation_alias="WHATSAPP_TEMPLATE_VARIABLE",
        description="The template variable that carries the message text.",
    )
    messages_per_second: float = Field(
        20.0,
        gt=0,
        validation_alias="WHATSAPP_MESSAGES_PER_SECOND",
        description="Messages a second sent from WHATSAPP_FROM_NUMBER.",
    )

    @field_validator("whatsapp_from_number")
    @classmethod
    def _address(cls, value: str) -> str:
        # Twilio wants the channel prefix on WhatsApp senders; accept the bare number too.
        value = value.strip()
        if value and not value.startswith(ADDRESS_PREFIX):
            value = ADDRESS_PREFIX + value
        if value and not value.removeprefix(ADDRESS_PREFIX).startswith("+"):
            raise ValueError("use the sender's number in E.164 form, e.g. whatsapp:+14155238886")
        return value

    @field_validator("template_sid")
    @classmethod
    def _content_sid(cls, value: str) -> str:
        if value and not value.startswith("HX"):
            raise ValueError("use the template's content SID (HX…), from Twilio's Content Template Builder")
        return value

    @model_validator(mode="after")
    def _check_credentials(self) -> WhatsAppSettings:
        problem = self.credentials_problem("WHATSAPP_FROM_NUMBER", self.whatsapp_from_number)
        if problem:
            raise ValueError(problem)
        return self
