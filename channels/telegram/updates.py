"""Telegram `Update` → `IncomingMessage`: what is addressed to the bot, and what to ignore.

Rules:
- Private chats: every message from a person is for the bot.
- Groups: only messages that mention the bot (`@botname`, or a text mention of it), reply to one of
  its messages, or carry a command (`/cmd`, or `/cmd@botname`; `/cmd@otherbot` is someone else's).
  The mention and the `@botname` suffix are removed from the text the core sees.
- Edited messages: an edited question is answered again, as a new question (people fix typos and
  expect the fix to count). Edits of commands and of files are ignored, so that correcting a
  caption never re-runs `/upload` or `/reset`.
- Button taps (callback queries): the button's `callback_data` is the text.
- Messages from bots, service messages, stickers and the like are ignored.

Message ids: the inbox dedupes on `message_id`, so it must be the same every time Telegram
delivers the same update. It is built from the `update_id` (`"<update_id>:<message_id>"`,
`"edit:<update_id>:<message_id>"`) or the callback query id (`"callback:<id>"`); carrying the chat
message id lets a reply in a group quote the question (`reply_target`) on any instance.

The Update's JSON is read as it is, for just the fields these rules need: building
python-telegram-bot's objects for every field of every update (`Update.de_json`) cost more CPU than
the rest of a webhook's acknowledgement but the database. The raw JSON is kept with the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.foundation.messages import Attachment, ConversationReference, IncomingMessage

CHANNEL = "telegram"

_COMMAND = re.compile(r"^/(?P<name>[A-Za-z0-9_]+)(?:@(?P<target>[A-Za-z0-9_]+))?(?=\s|$)")
_REPLY_TARGET = re.compile(r"^(?:edit:)?\d+:(?P<message_id>\d+)$")

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is (from getMe): needed to tell whether a group message is addressed to it."""

    id: int
    username: str


def parse_update(data: Json, bot: BotIdentity, received_at: datetime) -> IncomingMessage | None:
    """The message in an Update (its JSON) for the core, or None when the bot should not answer it.

    Raises (KeyError, TypeError, ValueError) when a field it needs is missing or of the wrong kind.
    """
    update_id = int(data["update_id"])
    if data.get("callback_query") is not None:
        return _from_callback(data, _object(data, "callback_query"), received_at)
    if data.get("message") is not None:
        return _from_message(data, update_id, _object(data, "message"), bot, received_at, edited=False)
    if data.get("edited_message") is not None:
        return _from_message(data, update_id, _object(data, "edited_message"), bot, received_at, edited=True)
    return None


def reply_target(message_id: str | None) -> int | None:
    """The Telegram message id to quote when answering the incoming message `message_id`."""
    match = _REPLY_TARGET.match(message_id or "")
    return int(match["message_id"]) if match else None


def display_name(user: Json) -> str:
    """A person's name as Telegram shows it: first and last name, else the @username."""
    name = " ".join(part for part in (user.get("first_name"), user.get("last_name")) if part)
    username = user.get("username")
    return name or (f"@{username}" if username else str(user["id"]))


def _object(data: Json, key: str) -> Json:
    value = data[key]
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not an object")
    return value


def _from_message(
    data: Json, update_id: int, message: Json, bot: BotIdentity, received_at: datetime, *, edited: bool
) -> IncomingMessage | None:
    user = message.get("from")
    if not isinstance(user, dict) or user.get("is_bot"):  # channel posts, anonymous admins, other bots
        return None
    text, entities = _text_and_entities(message)
    attachments = _attachments(message)
    if not text.strip() and not attachments:
        return None
    chat = _object(message, "chat")
    private = chat.get("type") == "private"
    text, mentioned = _without_mentions(text, entities, bot)
    command = _COMMAND.match(text)
    if command is not None:
        target = command["target"]
        if target is not None and target.lower() != bot.username.lower():
            return None  # a command for another bot in the same chat
        text = f"/{command['name']}{text[command.end() :]}"
    replied = message.get("reply_to_message")
    replied_from = replied.get("from") if isinstance(replied, dict) else None
    replied_to_bot = isinstance(replied_from, dict) and replied_from.get("id") == bot.id
    if not (private or mentioned or replied_to_bot or command is not None):
        return None  # group chatter not meant for the bot
    if edited and (command is not None or attachments):
        return None
    prefix = "edit:" if edited else ""
    return IncomingMessage(
        channel=CHANNEL,
        user_id=str(int(user["id"])),
        user_name=display_name(user),
        conversation=ConversationReference(CHANNEL, str(int(chat["id"])), thread_id=_thread_id(message)),
        message_id=f"{prefix}{update_id}:{int(message['message_id'])}",
        text=text,
        received_at=received_at,
        attachments=attachments,
        raw=data,
    )


def _from_callback(data: Json, query: Json, received_at: datetime) -> IncomingMessage | None:
    if query.get("data") is None:  # a game button: nothing to hand the core
        return None
    user = _object(query, "from")
    message = query.get("message")
    # A button on an inline message has no chat; a person's private chat id is their user id. A
    # message too old to be read (date 0, "inaccessible") still names its chat, but no topic.
    chat_id = _object(message, "chat")["id"] if isinstance(message, dict) else user["id"]
    accessible = isinstance(message, dict) and bool(message.get("date"))
    return IncomingMessage(
        channel=CHANNEL,
        user_id=str(int(user["id"])),
        user_name=display_name(user),
        conversation=ConversationReference(
            CHANNEL, str(int(chat_id)), thread_id=_thread_id(message) if accessible else None
        ),
        message_id=f"callback:{query['id']}",
        text=str(query["data"]),
        received_at=received_at,
        raw=data,
    )


def _text_and_entities(message: Json) -> tuple[str, list[Json]]:
    if message.get("text") is not None:
        return str(message["text"]), list(message.get("entities") or ())
    return str(message.get("caption") or ""), list(message.get("caption_entities") or ())


def _without_mentions(text: str, entities: list[Json], bot: BotIdentity) -> tuple[str, bool]:
    """The text with mentions of this bot removed, and whether there were any."""
    handle = f"@{bot.username}".lower()
    ranges = [
        (int(entity["offset"]), int(entity["length"]))
        for entity in entities
        if (entity.get("type") == "mention" and _slice(text, entity).lower() == handle)
        or (entity.get("type") == "text_mention" and (entity.get("user") or {}).get("id") == bot.id)
    ]
    if not ranges:
        return text, False
    # Entity offsets count UTF-16 code units; cut in that space so emoji before a mention are safe.
    # Each mention becomes a NUL first, so that a comma or colon after it ("@bot, hi") goes too.
    data = text.encode("utf-16-le")
    for offset, length in sorted(ranges, reverse=True):
        data = data[: offset * 2] + "\0".encode("utf-16-le") + data[(offset + length) * 2 :]
    cleaned = re.sub(r"\0[,:;]?", "", data.decode("utf-16-le"))
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip(), True


def _slice(text: str, entity: Json) -> str:
    data = text.encode("utf-16-le")
    start, length = int(entity["offset"]), int(entity["length"])
    return data[start * 2 : (start + length) * 2].decode("utf-16-le", "replace")


def _attachments(message: Json) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    document = message.get("document")
    if isinstance(document, dict):
        found.append(
            Attachment(
                kind="document",
                file_name=document.get("file_name"),
                mime_type=document.get("mime_type"),
                size=document.get("file_size"),
                platform_file_id=str(document["file_id"]),
            )
        )
    photo = message.get("photo")
    if isinstance(photo, list) and photo:
        largest = photo[-1]  # Telegram lists the sizes smallest first
        found.append(
            Attachment(
                kind="image",
                mime_type="image/jpeg",
                size=largest.get("file_size"),
                platform_file_id=str(largest["file_id"]),
            )
        )
    for kind, key in (("audio", "voice"), ("audio", "audio"), ("video", "video")):
        media = message.get(key)
        if isinstance(media, dict):
            found.append(
                Attachment(
                    kind=kind,
                    file_name=media.get("file_name") if key != "voice" else None,
                    mime_type=media.get("mime_type"),
                    size=media.get("file_size"),
                    platform_file_id=str(media["file_id"]),
                )
            )
    return tuple(found)


def _thread_id(message: Json | None) -> str | None:
    """The forum topic a message belongs to, so replies land in the same topic."""
    if not isinstance(message, dict) or not message.get("is_topic_message"):
        return None
    thread = message.get("message_thread_id")
    return None if thread is None else str(thread)
