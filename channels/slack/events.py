"""Slack payloads (Events API events, slash commands, button clicks) as `IncomingMessage`s.

Pure functions of the payload: what to answer, what to ignore, and where the reply goes.

- A direct message is answered; in a channel only a mention of the bot is (`app_mention`).
- Messages from bots, this one included, and housekeeping subtypes (joins, deletions, topic
  changes...) are ignored.
- The message id is the Slack message itself, `"<channel>:<ts>"`, not the event's `event_id`: a
  retried event repeats both, and a message that arrives twice as different events (`message` and
  `app_mention` for one mention) keeps the same channel and ts, so both collapse to one inbox row.
- An edit that changes the text is answered as a new question (keyed by the edit's own ts, so a
  retried edit is still answered once); unfurls and other updates that keep the text are ignored.
- Replies to a mention in a channel go in the thread of the message; in a direct message they go in
  the conversation itself (with the person's user id as the address, which is also how a
  proactive message reaches them), unless the person wrote inside a thread.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from bot.foundation.messages import Attachment, ConversationReference, IncomingMessage

CHANNEL = "slack"

# Message subtypes that carry something a person wrote; every other subtype is housekeeping.
_ANSWERED_SUBTYPES = {None, "file_share", "thread_broadcast"}
_DOCUMENT_SUFFIXES = {".pdf", ".docx", ".txt", ".md", ".markdown", ".html", ".htm"}
_DOCUMENT_MIME_TYPES = {
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text/plain",
    "text/markdown",
    "text/x-markdown",
    "text/html",
}


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is in the workspace a payload came from (from `auth.test` or the installation)."""

    user_id: str | None
    bot_id: str | None


def from_event(body: Mapping[str, Any], bot: BotIdentity, received_at: datetime) -> IncomingMessage | None:
    """The message an Events API `event_callback` carries for the bot, or None when it is not one."""
    event = body.get("event") or {}
    kind = event.get("type")
    if kind not in ("message", "app_mention"):
        return None
    subtype = event.get("subtype")
    if kind == "message" and subtype == "message_changed":
        return _from_edit(body, event, bot, received_at)
    if subtype not in _ANSWERED_SUBTYPES or _is_from_a_bot(event, bot):
        return None
    channel = str(event.get("channel") or "")
    if not channel or not event.get("user") or not event.get("ts"):
        return None
    channel_type = event.get("channel_type") or _guess_channel_type(channel)
    if kind == "message" and channel_type != "im":
        return None  # in channels the bot answers when mentioned, which arrives as app_mention
    return _message(
        body,
        event,
        channel=channel,
        channel_type=channel_type,
        message_id=f"{channel}:{event['ts']}",
        bot=bot,
        received_at=received_at,
    )


def _from_edit(
    body: Mapping[str, Any], event: Mapping[str, Any], bot: BotIdentity, received_at: datetime
) -> IncomingMessage | None:
    edited = event.get("message") or {}
    previous = event.get("previous_message") or {}
    channel = str(event.get("channel") or "")
    edit = edited.get("edited") or {}
    if not channel or not edit.get("ts") or not edited.get("user") or _is_from_a_bot(edited, bot):
        return None  # not an edit by a person (an unfurl, a bot updating its own message...)
    if edited.get("text", "") == previous.get("text", ""):
        return None
    channel_type = event.get("channel_type") or _guess_channel_type(channel)
    if channel_type != "im" and not _mentions(edited.get("text", ""), bot.user_id):
        return None
    return _message(
        body,
        edited,
        channel=channel,
        channel_type=channel_type,
        message_id=f"{channel}:{edited.get('ts')}:edited:{edit['ts']}",
        bot=bot,
        received_at=received_at,
    )


def _message(
    body: Mapping[str, Any],
    event: Mapping[str, Any],
    *,
    channel: str,
    channel_type: str,
    message_id: str,
    bot: BotIdentity,
    received_at: datetime,
) -> IncomingMessage:
    user = str(event["user"])
    thread_ts = event.get("thread_ts")
    if channel_type == "im" and not thread_ts:
        chat_id, thread_id = user, None
    elif channel_type == "im":
        chat_id, thread_id = channel, str(thread_ts)
    else:
        chat_id, thread_id = channel, str(thread_ts or event.get("ts"))
    return IncomingMessage(
        channel=CHANNEL,
        user_id=user,
        conversation=ConversationReference(CHANNEL, chat_id, thread_id=thread_id),
        message_id=message_id,
        text=plain_text(str(event.get("text") or ""), bot.user_id),
        received_at=received_at,
        attachments=tuple(attachment_from_file(file) for file in event.get("files") or ()),
        raw=_raw(body, event),
    )


def _raw(body: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """What is kept of the payload in the inbox: enough to trace it, without the file thumbnails."""
    kept = {key: event.get(key) for key in ("type", "subtype", "channel", "user", "ts", "thread_ts")}
    return {
        "team_id": body.get("team_id"),
        "enterprise_id": body.get("enterprise_id"),
        "event_id": body.get("event_id"),
        "event": {key: value for key, value in kept.items() if value is not None},
    }


def _is_from_a_bot(event: Mapping[str, Any], bot: BotIdentity) -> bool:
    if event.get("bot_id") or event.get("bot_profile"):
        return True
    user = event.get("user")
    return user is not None and user == bot.user_id


def _guess_channel_type(channel: str) -> str:
    # app_mention events carry no channel_type; Slack's ids say the kind: D... is a direct message.
    return "im" if channel.startswith("D") else "channel"


def _mentions(text: str, bot_user_id: str | None) -> bool:
    return bot_user_id is not None and f"<@{bot_user_id}" in text


def from_command(body: Mapping[str, Any], received_at: datetime) -> IncomingMessage:
    """`/coach <command> args` as the chat command `/<command> args` (`/coach` alone asks for /help).

    The answer goes to the channel the command was typed in, or, from any direct message (where the
    bot may not be a member), to the person's direct messages with the bot.
    """
    words = plain_text(str(body.get("text") or ""), None).strip()
    text = "/" + words.lstrip("/") if words else "/help"
    user = str(body["user_id"])
    channel = str(body.get("channel_id") or "")
    in_direct_message = body.get("channel_name") == "directmessage" or not channel or channel.startswith("D")
    chat_id = user if in_direct_message else channel
    return IncomingMessage(
        channel=CHANNEL,
        user_id=user,
        conversation=ConversationReference(CHANNEL, chat_id),
        message_id=f"command:{body['trigger_id']}",
        text=text,
        received_at=received_at,
        user_name=body.get("user_name") or None,
        raw={
            "team_id": body.get("team_id"),
            "enterprise_id": body.get("enterprise_id"),
            "command": body.get("command"),
            "channel_id": channel,
        },
    )


def from_action(body: Mapping[str, Any], received_at: datetime) -> list[IncomingMessage]:
    """A click on one of our buttons (`block_actions`) as the message the button stands for: its value."""
    user = str((body.get("user") or {}).get("id") or "")
    channel = str(
        (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    )
    if not user or not channel:
        return []
    message = body.get("message") or {}
    thread_ts = message.get("thread_ts") or (body.get("container") or {}).get("thread_ts")
    if channel.startswith("D") and not thread_ts:
        chat_id, thread_id = user, None
    else:
        chat_id, thread_id = channel, (str(thread_ts) if thread_ts else message.get("ts"))
    clicks = []
    for action in body.get("actions") or ():
        value = action.get("value")
        if action.get("type") != "button" or not value:
            continue
        clicks.append(
            IncomingMessage(
                channel=CHANNEL,
                user_id=user,
                conversation=ConversationReference(CHANNEL, chat_id, thread_id=thread_id),
                message_id=f"action:{action.get('action_ts')}:{user}:{action.get('action_id')}",
                text=str(value),
                received_at=received_at,
                user_name=(body.get("user") or {}).get("username") or None,
                raw={"team_id": (body.get("team") or {}).get("id"), "action": dict(action)},
            )
        )
    return clicks


def attachment_from_file(file: Mapping[str, Any]) -> Attachment:
    """A shared file as an `Attachment`; PDF, DOCX, text, Markdown and HTML files are documents.

    Files shared where the app cannot see them whole arrive as `{"id", "file_access":
    "check_file_info"}`: they are taken as documents, and `files.info` fills them in when fetched.
    """
    name = file.get("name") or file.get("title")
    mime_type = file.get("mimetype")
    url = file.get("url_private_download") or file.get("url_private")
    if (
        (name is None and mime_type is None)
        or (name and PurePosixPath(str(name)).suffix.lower() in _DOCUMENT_SUFFIXES)
        or (mime_type in _DOCUMENT_MIME_TYPES)
    ):
        kind = "document"
    elif str(mime_type or "").startswith("image/"):
        kind = "image"
    elif str(mime_type or "").startswith(("audio/", "video/")):
        kind = str(mime_type).split("/", 1)[0]
    else:
        kind = "file"
    size = file.get("size")
    return Attachment(
        kind=kind,
        file_name=str(name) if name else None,
        mime_type=str(mime_type) if mime_type else None,
        size=int(size) if isinstance(size, int) else None,
        url=str(url) if url else None,
        platform_file_id=str(file["id"]) if file.get("id") else None,
    )


_ANGLE = re.compile(r"<([^<>]*)>")


def plain_text(text: str, bot_user_id: str | None) -> str:
    """Slack's wire text as a person reads it: mentions of the bot removed, `<@U1|ann>` as `@ann`,
    `<#C1|general>` as `#general`, links as `label (url)`, and `&amp;`, `&lt;`, `&gt;` unescaped."""

    def readable(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            if bot_user_id is not None and target[1:] == bot_user_id:
                return ""
            return f"@{label}" if label else target
        if target.startswith("#"):
            return f"#{label}" if label else target
        if target.startswith("!"):
            if label:
                return label
            return "@" + target[1:].split("^", 1)[0]
        if target.startswith("mailto:"):
            return label or target.removeprefix("mailto:")
        if label and label != target:
            return f"{label} ({target})"
        return target

    readable_text = _ANGLE.sub(readable, text)
    readable_text = readable_text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]{2,}", " ", readable_text).strip()
