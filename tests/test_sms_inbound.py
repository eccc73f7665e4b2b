"""Inbound Twilio webhooks: X-Twilio-Signature against twilio-python's own vectors (through the function
the webhooks use), and the form fields read into a normalised message."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import pytest
from starlette.datastructures import FormData

from channels.sms.inbound import is_signed_by_twilio, signed_url, to_incoming
from tests.conftest import FIXTURES

VECTORS: dict[str, Any] = json.loads(
    (FIXTURES / "payloads" / "twilio" / "twilio_python_signature_vectors.json").read_text()
)
TOKEN = VECTORS["auth_token"]


def test_form_parameters_vector() -> None:
    params = VECTORS["form_params"]

    assert is_signed_by_twilio(TOKEN, VECTORS["url"], params, VECTORS["expected_X-Twilio-Signature"])
    assert not is_signed_by_twilio(
        TOKEN, VECTORS["url"], {**params, "Digits": "9999"}, VECTORS["expected_X-Twilio-Signature"]
    )
    assert not is_signed_by_twilio(
        "another-token", VECTORS["url"], params, VECTORS["expected_X-Twilio-Signature"]
    )
    assert not is_signed_by_twilio(TOKEN, VECTORS["url"], params, "")


def test_json_body_vector() -> None:
    variant = VECTORS["json_body_variant"]

    assert is_signed_by_twilio(TOKEN, variant["url"], variant["body"], variant["expected_X-Twilio-Signature"])
    assert not is_signed_by_twilio(
        TOKEN,
        variant["url"],
        variant["body"].replace("true", "false"),
        variant["expected_X-Twilio-Signature"],
    )


def test_repeated_parameters_vector_with_form_data() -> None:
    variant = VECTORS["duplicate_params_variant"]
    # Starlette's form data, as the webhook hands it over: every value of a repeated key counts.
    form = FormData([tuple(pair) for pair in variant["params_multi"]])

    assert is_signed_by_twilio(TOKEN, VECTORS["url"], form, variant["expected_X-Twilio-Signature"])
    assert not is_signed_by_twilio(
        TOKEN,
        VECTORS["url"],
        FormData([("Sid", "CA123"), ("Digits", "1234")]),
        variant["expected_X-Twilio-Signature"],
    )


@pytest.mark.parametrize("case", VECTORS["url_port_cases"], ids=lambda case: case["test"].split()[0])
def test_ports_are_tolerated_like_twilio_does(case: dict[str, Any]) -> None:
    valid = is_signed_by_twilio(
        TOKEN, case["request_url"], VECTORS["form_params"], case["X-Twilio-Signature"]
    )

    assert valid is case["should_validate"]


def test_the_signed_url_comes_from_the_public_url_when_set() -> None:
    seen = "http://127.0.0.1:8000/webhooks/sms?x=1"

    assert signed_url("https://coach.example.com", "/webhooks/sms", "x=1", seen) == (
        "https://coach.example.com/webhooks/sms?x=1"
    )
    assert signed_url("https://example.com/coach/", "/webhooks/sms", "", seen) == (
        "https://example.com/coach/webhooks/sms"
    )
    assert signed_url("", "/webhooks/sms", "x=1", seen) == seen


def _fixture_form(name: str) -> dict[str, str]:
    raw = (FIXTURES / "payloads" / "twilio" / name).read_text().strip()
    return dict(parse_qsl(raw, keep_blank_values=True))


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_an_inbound_sms_becomes_a_normalised_message() -> None:
    form = _fixture_form("twilio_go_real_inbound_sms.form-urlencoded.txt")

    message = to_incoming(form, NOW)

    assert message is not None
    assert (message.channel, message.user_id, message.text) == ("sms", "+19253920364", "twilio-go testing!")
    assert message.message_id == "SM1521fa559fb923c1ed64f56cd1bed8ef"  # the inbox dedupes on it
    assert message.conversation.chat_id == "+19253920364" and message.attachments == ()
    assert message.raw["FromCity"] == "BRENTWOOD"


def test_mms_media_become_attachments() -> None:
    form = _fixture_form("botbuilder_community_whatsapp_inbound_image_mms.form-urlencoded.txt")
    form.update(
        NumMedia="2", MediaContentType1="application/pdf", MediaUrl1="https://api.twilio.com/x/Media/ME2"
    )

    message = to_incoming(form, NOW)

    assert message is not None
    image, pdf = message.attachments
    assert (image.kind, image.mime_type, image.file_name) == ("image", "image/jpeg", None)
    assert image.url == form["MediaUrl0"] and image.platform_file_id == "ME5f0afa2336bd0f73ca553fb5a2e3150bc"
    assert (pdf.kind, pdf.file_name) == ("document", "mms-MM21151abfaadc1fb79b782f8460862a52-1.pdf")


def test_keywords_become_commands_including_twilios_own() -> None:
    form = _fixture_form("twilio_go_real_inbound_sms.form-urlencoded.txt")

    def text(**fields: str) -> str:
        message = to_incoming({**form, **fields}, NOW)
        assert message is not None
        return message.text

    assert text(Body="Stop") == "/optout"
    assert text(Body="START") == "/optin"
    assert text(Body="info") == "/help"
    assert text(Body="ARRET", OptOutType="STOP") == "/optout"  # a Messaging Service's own keyword
    assert text(Body="stop it now") == "stop it now"


def test_a_form_that_is_not_a_message_is_rejected() -> None:
    assert to_incoming({"Body": "hi", "From": "+1555"}, NOW) is None
    assert to_incoming({"MessageSid": "SM1", "Body": "hi"}, NOW) is None
