"""Inbound Twilio webhooks: X-Twilio-Signature against twilio-python's own vectors (through the function
the webhooks use), and the form fields read into a normalised message.

The vectors and captured forms come from `../shared/fixtures` (skipped without it); the same checks
run on forms the tests write and sign with twilio's `RequestValidator`, so a clone covers them too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import pytest
from starlette.datastructures import FormData

from channels.sms.inbound import is_signed_by_twilio, signed_url, to_incoming
from tests.support.payloads import twilio_signature, twilio_sms_form
from tests.support.shared_fixtures import shared_fixture


@pytest.fixture
def vectors() -> dict[str, Any]:
    """twilio-python's signature test vectors."""
    loaded: dict[str, Any] = json.loads(
        shared_fixture("payloads", "twilio", "twilio_python_signature_vectors.json").read_text()
    )
    return loaded


def test_a_form_signed_by_twilios_validator_is_accepted_and_nothing_else() -> None:
    token, url = "12345", "https://coach.example.com/webhooks/sms"
    form = twilio_sms_form("Hello coach")
    signature = twilio_signature(token, url, form)

    assert is_signed_by_twilio(token, url, form, signature)
    assert is_signed_by_twilio(token, "https://coach.example.com:443/webhooks/sms", form, signature)
    assert not is_signed_by_twilio(token, url, {**form, "Body": "Hello coack"}, signature)
    assert not is_signed_by_twilio("another-token", url, form, signature)
    assert not is_signed_by_twilio(token, "https://evil.example.com/webhooks/sms", form, signature)
    assert not is_signed_by_twilio(token, url, form, "")


def test_form_parameters_vector(vectors: dict[str, Any]) -> None:
    token = vectors["auth_token"]
    params = vectors["form_params"]

    assert is_signed_by_twilio(token, vectors["url"], params, vectors["expected_X-Twilio-Signature"])
    assert not is_signed_by_twilio(
        token, vectors["url"], {**params, "Digits": "9999"}, vectors["expected_X-Twilio-Signature"]
    )
    assert not is_signed_by_twilio(
        "another-token", vectors["url"], params, vectors["expected_X-Twilio-Signature"]
    )
    assert not is_signed_by_twilio(token, vectors["url"], params, "")


def test_json_body_vector(vectors: dict[str, Any]) -> None:
    token = vectors["auth_token"]
    variant = vectors["json_body_variant"]

    assert is_signed_by_twilio(token, variant["url"], variant["body"], variant["expected_X-Twilio-Signature"])
    assert not is_signed_by_twilio(
        token,
        variant["url"],
        variant["body"].replace("true", "false"),
        variant["expected_X-Twilio-Signature"],
    )


def test_repeated_parameters_vector_with_form_data(vectors: dict[str, Any]) -> None:
    token = vectors["auth_token"]
    variant = vectors["duplicate_params_variant"]
    # Starlette's form data, as the webhook hands it over: every value of a repeated key counts.
    form = FormData([tuple(pair) for pair in variant["params_multi"]])

    assert is_signed_by_twilio(token, vectors["url"], form, variant["expected_X-Twilio-Signature"])
    assert not is_signed_by_twilio(
        token,
        vectors["url"],
        FormData([("Sid", "CA123"), ("Digits", "1234")]),
        variant["expected_X-Twilio-Signature"],
    )


def test_ports_are_tolerated_like_twilio_does(vectors: dict[str, Any]) -> None:
    cases = vectors["url_port_cases"]
    for case in cases:
        valid = is_signed_by_twilio(
            vectors["auth_token"], case["request_url"], vectors["form_params"], case["X-Twilio-Signature"]
        )

        assert valid is case["should_validate"], case["test"]
    assert len(cases) >= 4


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
    raw = shared_fixture("payloads", "twilio", name).read_text().strip()
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


def test_an_inbound_sms_written_here_becomes_a_normalised_message() -> None:
    form = twilio_sms_form("Hello coach", sender="+15550002222", sid="SM" + "a" * 32)

    message = to_incoming(form, NOW)

    assert message is not None
    assert (message.channel, message.user_id, message.text) == ("sms", "+15550002222", "Hello coach")
    assert message.message_id == "SM" + "a" * 32
    assert message.conversation.chat_id == "+15550002222" and message.attachments == ()


def test_mms_media_become_attachments() -> None:
    sid = "MM21151abfaadc1fb79b782f8460862a52"
    form = twilio_sms_form(
        "",
        sid=sid,
        NumMedia="2",
        MediaContentType0="image/jpeg",
        MediaUrl0=f"https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/{sid}/Media/ME5f0afa2336bd0f73ca553fb5a2e3150bc",
        MediaContentType1="application/pdf",
        MediaUrl1="https://api.twilio.com/x/Media/ME2",
    )

    message = to_incoming(form, NOW)

    assert message is not None
    image, pdf = message.attachments
    assert (image.kind, image.mime_type, image.file_name) == ("image", "image/jpeg", None)
    assert image.url == form["MediaUrl0"] and image.platform_file_id == "ME5f0afa2336bd0f73ca553fb5a2e3150bc"
    assert (pdf.kind, pdf.file_name) == ("document", "mms-MM21151abfaadc1fb79b782f8460862a52-1.pdf")


def test_keywords_become_commands_including_twilios_own() -> None:
    form = twilio_sms_form("hello")

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
