"""An inbound Twilio message webhook (SMS, MMS or WhatsApp) as an `IncomingMessage`.

The form fields are the same on every Twilio channel: `MessageSid`, `From`, `Body`, `NumMedia` and
`MediaUrl<n>`/`MediaContentType<n>`; WhatsApp adds `ProfileName` and writes addresses
`whatsapp:+…`, which the channel strips so that a person is their phone number everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from bot.foundation.messages import Attachment, ConversationReference, IncomingMessage
from channels.twilio.keywords import OPT_OUT_TYPES
from channels.twilio.media import media_file_name, media_kind

MAX_MEDIA = 10  # Twilio attaches at most ten media files to a message


def attachments(form: Mapping[str, str], message_sid: str, prefix: str) -> tuple[Attachment, ...]:
    """The media a message carries (`NumMedia`, `MediaUrl<n>`), documents named `<prefix>-<sid>-<n>.ext`."""
    try:
        count = min(int(form.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        count = 0
    found = []
    for index in range(count):
        url = form.get(f"MediaUrl{index}")
        if not url:
            continue
        content_type = form.get(f"MediaContentType{index}") or "application/octet-stream"
        found.append(
            Attachment(
                kind=media_kind(content_type),
                file_name=media_file_name(message_sid, index, content_type, prefix),
                mime_type=content_type,
                url=url,
                platform_file_id=url.rstrip("/").rsplit("/", 1)[-1],
            )
        )
    return tuple(found)


def to_incoming(
    form: Mapping[str, str],
    received_at: datetime,
    *,
    channel: str,
    command_of: Callable[[str], str | None],
    address_prefix: str = "",
    media_prefix: str = "mms",
) -> IncomingMessage | None:
    """The normalised message of an inbound webhook; None when it is not one.

    `command_of` reads a body as a command ("STOP" → "/optout") or None for chat; a message Twilio
    marks with `OptOutType` (Advanced Opt-Out) is that command whatever its words. `address_prefix`
    ("whatsapp:") is taken off `From`.
    """
    message_sid = form.get("MessageSid") or form.get("SmsMessageSid")
    sender = (form.get("From") or "").removeprefix(address_prefix)
    if not message_sid or not sender:
        return None
    body = form.get("Body") or ""
    command = OPT_OUT_TYPES.get((form.get("OptOutType") or "").upper()) or command_of(body)
    return IncomingMessage(
        channel=channel,
        user_id=sender,
        conversation=ConversationReference(channel, sender),
        message_id=message_sid,
        text=command or body,
        received_at=received_at,
        user_name=form.get("ProfileName") or None,
        attachments=attachments(form, message_sid, media_prefix),
        raw={key: form[key] for key in form},
    )
