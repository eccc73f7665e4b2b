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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telegram import CallbackQuery, Message, MessageEntity, Update, User

from bot.foundation.messages import Attachment, ConversationReference, IncomingMessage

CHANNEL = "telegram"

_COMMAND = re.compile(r"^/(?P<name>[A-Za-z0-9_]+)(?:@(?P<target>[A-Za-z0-9_]+))?(?=\s|$)")
_REPLY_TARGET = re.compile(r"^(?:edit:)?\d+:(?P<message_id>\d+)$")


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is (from getMe): needed to tell whether a group message is addressed to it."""

    id: int
    username: str


def parse_update(data: dict[str, Any], bot: BotIdentity, received_at: datetime) -> IncomingMessage | None:
    """The message in an Update (its JSON) for the core, or None when the bot should not answer it.

    Raises when python-telegram-bot cannot read the payload.
    """
    update = Update.de_json(data, None)
    if update.callback_query is not None:
        return _from_callback(data, update.callback_query, received_at)
    if update.message is not None:
        return _from_message(data, update.message, bot, received_at, edited=False)
    if update.edited_message is not None:
        return _from_message(data, update.edited_message, bot, received_at, edited=True)
    return None


def reply_target(message_id: str | None) -> int | None:
    """The Telegram message id to quote when answering the incoming message `message_id`."""
    match = _REPLY_TARGET.match(message_id or "")
    return int(match["message_id"]) if match else None


def display_name(user: User) -> str:
    """A person's name as Telegram shows it: first and last name, else the @username."""
    name = " ".join(part for part in (user.first_name, user.last_name) if part)
    return name or (f"@{user.username}" if user.username else str(user.id))


def _from_message(
    data: dict[str, Any], message: Message, bot: BotIdentity, received_at: datetime, *, edited: bool
) -> IncomingMessage | None:
    user = message.from_user
    if user is None or user.is_bot:  # channel posts, anonymous admins, other bots
        return None
    text, entities = _text_and_entities(message)
    attachments = _attachments(message)
    if not text.strip() and not attachments:
        return None
    private = message.chat.type == "private"
    text, mentioned = _without_mentions(text, entities, bot)
    command = _COMMAND.match(text)
    if command is not None:
        target = command["target"]
        if target is not None and target.lower() != bot.username.lower():
            return None  # a command for another bot in the same chat
        text = f"/{command['name']}{text[command.end() :]}"
    replied_to_bot = (
        message.reply_to_message is not None
        and message.reply_to_message.from_user is not None
        and message.reply_to_message.from_user.id == bot.id
    )
    if not (private or mentioned or replied_to_bot or command is not None):
        return None  # group chatter not meant for the bot
    if edited and (command is not None or attachments):
        return None
    prefix = "edit:" if edited else ""
    return IncomingMessage(
        channel=CHANNEL,
        user_id=str(user.id),
        user_name=display_name(user),
        conversation=ConversationReference(CHANNEL, str(message.chat.id), thread_id=_thread_id(message)),
        message_id=f"{prefix}{data['update_id']}:{message.message_id}",
        text=text,
        received_at=received_at,
        attachments=attachments,
        raw=data,
    )


def _from_callback(
    data: dict[str, Any], query: CallbackQuery, received_at: datetime
) -> IncomingMessage | None:
    if query.data is None:  # a game button: nothing to hand the core
        return None
    # A button on an inline message has no chat; a person's private chat id is their user id.
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    thread_id = _thread_id(query.message) if isinstance(query.message, Message) else None
    return IncomingMessage(
        channel=CHANNEL,
        user_id=str(query.from_user.id),
        user_name=display_name(query.from_user),
        conversation=ConversationReference(CHANNEL, str(chat_id), thread_id=thread_id),
        message_id=f"callback:{query.id}",
        text=query.data,
        received_at=received_at,
        raw=data,
    )


def _text_and_entities(message: Message) -> tuple[str, tuple[MessageEntity, ...]]:
    if message.text is not None:
        return message.text, tuple(message.entities)
    return message.caption or "", tuple(message.caption_entities)


def _without_mentions(text: str, entities: tuple[MessageEntity, ...], bot: BotIdentity) -> tuple[str, bool]:
    """The text with mentions of this bot removed, and whether there were any."""
    handle = f"@{bot.username}".lower()
    ranges = [
        (entity.offset, entity.length)
        for entity in entities
        if (entity.type == MessageEntity.MENTION and _slice(text, entity).lower() == handle)
        or (
            entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == bot.id
        )
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


def _slice(text: str, entity: MessageEntity) -> str:
    data = text.encode("utf-16-le")
    return data[entity.offset * 2 : (entity.offset + entity.length) * 2].decode("utf-16-le", "replace")


def _attachments(message: Message) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    if message.document is not None:
        document = message.document
        found.append(
            Attachment(
                kind="document",
                file_name=document.file_name,
                mime_type=document.mime_type,
                size=document.file_size,
                platform_file_id=document.file_id,
            )
        )
    if message.photo:
        largest = message.photo[-1]  # Telegram lists the sizes smallest first
        found.append(
            Attachment(
                kind="image", mime_type="image/jpeg", size=largest.file_size, platform_file_id=largest.file_id
            )
        )
    for kind, media in (("audio", message.voice), ("audio", message.audio), ("video", message.video)):
        if media is not None:
            found.append(
                Attachment(
                    kind=kind,
                    file_name=getattr(media, "file_name", None),
                    mime_type=media.mime_type,
                    size=media.file_size,
                    platform_file_id=media.file_id,
                )
            )
    return tuple(found)


def _thread_id(message: Message | None) -> str | None:
    """The forum topic a message belongs to, so replies land in the same topic."""
    if message is None or not message.is_topic_message or message.message_thread_id is None:
        return None
    return str(message.message_thread_id)
