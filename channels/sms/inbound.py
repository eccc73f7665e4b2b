"""Twilio webhooks in: checking `X-Twilio-Signature` and reading a message's form fields.

Twilio signs the URL it called plus the POST parameters (HMAC-SHA1 with the auth token). Behind a
proxy the URL this server sees differs from that one, so the signed URL is rebuilt from
`COACH_PUBLIC_URL` and the webhook's path.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from twilio.request_validator import RequestValidator

from channels.messages import Attachment, ConversationReference, IncomingMessage
from channels.sms.keywords import HELP_COMMAND, OPT_IN_COMMAND, OPT_OUT_COMMAND, keyword_command
from channels.sms.media import media_file_name, media_kind

SIGNATURE_HEADER = "X-Twilio-Signature"
CHANNEL = "sms"
MAX_MEDIA = 10  # Twilio attaches at most ten media files to a message
OPT_OUT_TYPES = {"STOP": OPT_OUT_COMMAND, "START": OPT_IN_COMMAND, "HELP": HELP_COMMAND}


def signed_url(public_url: str, path: str, query: str, request_url: str) -> str:
    """The URL Twilio signed: the public base URL and the path when configured, else what we saw."""
    if not public_url:
        return request_url
    return f"{public_url.rstrip('/')}{path}" + (f"?{query}" if query else "")


def is_signed_by_twilio(auth_token: str, url: str, params: Mapping[str, Any] | str, signature: str) -> bool:
    """Whether `signature` is Twilio's for this URL and these parameters (or this JSON body).

    `params` may be a multi-dict (repeated parameters all count), as Starlette's form data is.
    """
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def _attachments(form: Mapping[str, str], message_sid: str) -> tuple[Attachment, ...]:
    try:
        count = min(int(form.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        count = 0
    attachments = []
    for index in range(count):
        url = form.get(f"MediaUrl{index}")
        if not url:
            continue
        content_type = form.get(f"MediaContentType{index}") or "application/octet-stream"
        attachments.append(
            Attachment(
                kind=media_kind(content_type),
                file_name=media_file_name(message_sid, index, content_type),
                mime_type=content_type,
                url=url,
                platform_file_id=url.rstrip("/").rsplit("/", 1)[-1],
            )
        )
    return tuple(attachments)


def to_incoming(form: Mapping[str, str], received_at: datetime) -> IncomingMessage | None:
    """The normalised message of an inbound SMS/MMS webhook; None when it is not one.

    A message that is exactly a compliance keyword becomes its command ("STOP" → "/optout"), as does
    one Twilio marks with `OptOutType`.
    """
    message_sid = form.get("MessageSid") or form.get("SmsMessageSid")
    sender = form.get("From")
    if not message_sid or not sender:
        return None
    body = form.get("Body") or ""
    # With Advanced Opt-Out, Twilio names the keyword it matched, including a Messaging Service's
    # own keywords (e.g. "ARRET"); else the standard keywords are matched here.
    command = OPT_OUT_TYPES.get((form.get("OptOutType") or "").upper()) or keyword_command(body)
    return IncomingMessage(
        channel=CHANNEL,
        user_id=sender,
        conversation=ConversationReference(CHANNEL, sender),
        message_id=message_sid,
        text=command or body,
        received_at=received_at,
        attachments=_attachments(form, message_sid),
        raw={key: form[key] for key in form},
    )
