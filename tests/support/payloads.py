"""Webhook bodies the tests write themselves, in each platform's documented shape, signed for real.

The real captured payloads in `../shared/fixtures/payloads/` check the parsers against the platforms;
these builders drive every feature test, so a clone of the project (which has no `../shared`) still
covers Telegram, Slack and SMS end to end. Signatures use the platforms' own algorithms through their
SDKs: twilio's `RequestValidator` here, Slack's `SignatureVerifier` in `tests.fakes.slack_server`.
"""

from __future__ import annotations

from typing import Any

from twilio.request_validator import RequestValidator

# --- Telegram (Bot API `Update` objects) ---------------------------------------------------------------

TELEGRAM_USER_ID = 12345678
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # the header name the Bot API sends
TELEGRAM_DATE = 1_767_225_600  # 2026-01-01


def telegram_user(
    user_id: int = TELEGRAM_USER_ID,
    first_name: str = "Sam",
    last_name: str | None = "Lee",
    *,
    is_bot: bool = False,
) -> dict[str, Any]:
    """A Telegram `User`."""
    user: dict[str, Any] = {"id": user_id, "is_bot": is_bot, "first_name": first_name, "language_code": "en"}
    if last_name:
        user["last_name"] = last_name
    return user


def _command_entities(text: str) -> list[dict[str, Any]]:
    # Telegram marks a leading /command with a bot_command entity; parsers rely on it.
    if not text.startswith("/"):
        return []
    return [{"type": "bot_command", "offset": 0, "length": len(text.split(" ", 1)[0])}]


def telegram_message_update(
    *,
    update_id: int = 1,
    message_id: int = 1,
    sender: dict[str, Any] | None = None,
    chat: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An `Update` carrying one `Message` with the given fields (`text`, `document`, `caption`, ...)."""
    sender = sender or telegram_user()
    if chat is None:
        chat = {"id": sender["id"], "first_name": sender["first_name"], "type": "private"}
        if "last_name" in sender:
            chat["last_name"] = sender["last_name"]
    message: dict[str, Any] = {"message_id": message_id, "from": sender, "chat": chat, "date": TELEGRAM_DATE}
    message.update(fields)
    return {"update_id": update_id, "message": message}


def telegram_text_update(
    text: str, *, update_id: int = 1, message_id: int = 1, sender: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A private text message to the bot (a command gets its `bot_command` entity)."""
    extra: dict[str, Any] = {"text": text}
    if entities := _command_entities(text):
        extra["entities"] = entities
    return telegram_message_update(update_id=update_id, message_id=message_id, sender=sender, **extra)


def telegram_group_update(
    text: str,
    *,
    update_id: int = 500,
    chat_id: int = -123456789,
    entities: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A message in a group chat."""
    chat = {"id": chat_id, "title": "Running club", "type": "group"}
    return telegram_message_update(
        update_id=update_id,
        chat=chat,
        text=text,
        entities=_command_entities(text) if entities is None else entities,
    )


def telegram_document(
    file_name: str = "guide.docx",
    *,
    mime_type: str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    file_size: int | None = 21331,
    file_id: str = "BQACAgIAAxkBAAIBcmY1",
) -> dict[str, Any]:
    """A `Document` as it appears in a message (`file_size=None`: Telegram did not say)."""
    document: dict[str, Any] = {
        "file_name": file_name,
        "mime_type": mime_type,
        "file_id": file_id,
        "file_unique_id": f"AgAD{file_id[-6:]}",
    }
    if file_size is not None:
        document["file_size"] = file_size
    return document


def telegram_document_update(
    document: dict[str, Any] | None = None, *, caption: str | None = None, update_id: int = 2
) -> dict[str, Any]:
    """A private message carrying a file (and a caption, which may be a command)."""
    fields: dict[str, Any] = {"document": document or telegram_document()}
    if caption is not None:
        fields["caption"] = caption
        if entities := _command_entities(caption):
            fields["caption_entities"] = entities
    return telegram_message_update(update_id=update_id, message_id=update_id, **fields)


def telegram_photo_update(*, update_id: int = 3, largest_size: int = 123456) -> dict[str, Any]:
    """A private message with a photo in three sizes (Telegram lists them smallest first)."""
    sizes = [
        {
            "file_id": f"AgACph{index}",
            "file_unique_id": f"AQADph{index}",
            "width": w,
            "height": w,
            "file_size": s,
        }
        for index, (w, s) in enumerate([(90, 1500), (320, 20000), (1280, largest_size)])
    ]
    return telegram_message_update(update_id=update_id, message_id=update_id, photo=sizes)


def telegram_callback_update(
    data: str,
    *,
    query_id: str = "4382bfdwdsb323b2d9",
    update_id: int = 4,
    chat_message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A button tap: on an inline message (no chat) unless `chat_message` (the message it was under)."""
    query: dict[str, Any] = {
        "id": query_id,
        "from": telegram_user(),
        "chat_instance": "-7000000000000000001",
        "data": data,
    }
    if chat_message is None:
        query["inline_message_id"] = "AgAAAKcmAQBxLiIS"
    else:
        query["message"] = chat_message
    return {"update_id": update_id, "callback_query": query}


# --- Slack (Events API and slash commands) ------------------------------------------------------------

SLACK_TEAM = "T0TEAM"
SLACK_APP = "A0APP"
SLACK_BOT_USER = "U0BOT"


def slack_event_callback(
    event: dict[str, Any], *, event_id: str = "Ev0001", event_time: int = 1_767_225_600
) -> dict[str, Any]:
    """An `event_callback` envelope around one event, as the Events API posts it."""
    return {
        "token": "legacy-verification-token",
        "team_id": SLACK_TEAM,
        "api_app_id": SLACK_APP,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [{"team_id": SLACK_TEAM, "user_id": SLACK_BOT_USER, "is_bot": True}],
    }


def slack_message_event(
    text: str,
    *,
    user: str = "U111",
    channel: str = "C111",
    channel_type: str = "channel",
    ts: str = "1767225600.000100",
    **fields: Any,
) -> dict[str, Any]:
    """A `message` event (a channel message by default; `channel_type="im"` for a direct message)."""
    event: dict[str, Any] = {
        "type": "message",
        "text": text,
        "user": user,
        "ts": ts,
        "team": SLACK_TEAM,
        "channel": channel,
        "event_ts": ts,
        "channel_type": channel_type,
    }
    event.update(fields)
    return slack_event_callback(event, event_id=f"Ev{ts.replace('.', '')}")


def slack_app_mention(
    text: str, *, user: str = "U222", channel: str = "C111", ts: str = "1767225700.000200"
) -> dict[str, Any]:
    """An `app_mention` event: `text` should start with `<@BOT>`."""
    event = {
        "type": "app_mention",
        "text": text,
        "user": user,
        "ts": ts,
        "team": SLACK_TEAM,
        "channel": channel,
        "event_ts": ts,
    }
    return slack_event_callback(event, event_id=f"Ev{ts.replace('.', '')}")


def slack_file(
    file_id: str = "F111",
    name: str = "guide.docx",
    mimetype: str = "application/octet-stream",
    size: int = 1000,
) -> dict[str, Any]:
    """A file object inside a `file_share` message."""
    return {
        "id": file_id,
        "name": name,
        "title": name,
        "mimetype": mimetype,
        "filetype": name.rsplit(".", 1)[-1],
        "size": size,
        "mode": "hosted",
        "url_private": f"https://files.slack.com/files-pri/{SLACK_TEAM}-{file_id}/{name}",
        "url_private_download": f"https://files.slack.com/files-pri/{SLACK_TEAM}-{file_id}/download/{name}",
    }


def slack_slash_command(
    text: str,
    *,
    command: str = "/coach",
    user: str = "W111",
    channel: str = "C111",
    trigger: str = "111.111.xxx",
) -> dict[str, str]:
    """The form fields of a slash command."""
    return {
        "token": "legacy-verification-token",
        "team_id": SLACK_TEAM,
        "team_domain": "coachline-test",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": "sam",
        "command": command,
        "text": text,
        "api_app_id": SLACK_APP,
        "response_url": f"https://hooks.slack.com/commands/{SLACK_TEAM}/1/abc",
        "trigger_id": trigger,
    }


def slack_url_verification(
    challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
) -> dict[str, Any]:
    """The challenge Slack posts when an app's request URL is set."""
    return {"token": "legacy-verification-token", "challenge": challenge, "type": "url_verification"}


# --- Twilio (SMS webhooks) ----------------------------------------------------------------------------

TWILIO_ACCOUNT = "AC" + "0" * 31 + "1"


def twilio_sms_form(
    body: str,
    *,
    sender: str = "+15550001111",
    to: str = "+15557654321",
    sid: str = "SM" + "1" * 32,
    account_sid: str = TWILIO_ACCOUNT,
    **extra: str,
) -> dict[str, str]:
    """The form fields Twilio posts for an inbound SMS (API version 2010-04-01)."""
    form = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "94105",
        "SmsSid": sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": to,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    form.update(extra)
    return form


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """`X-Twilio-Signature` for a form, by twilio's own `RequestValidator`."""
    return str(RequestValidator(auth_token).compute_signature(url, params))
