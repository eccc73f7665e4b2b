"""The normalised messages every part after a channel adapter speaks."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# What no database here can store: NUL (PostgreSQL text and jsonb refuse it) and lone UTF-16
# surrogates (valid in JSON escapes and Python strings, but no encoding can write them).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# NUL as the JSON encoder writes it: `\u0000` after an even number of backslashes (none included).
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def storable(value: Any) -> Any:
    """`value` (text, or JSON-like data) with NULs dropped and lone surrogates replaced by U+FFFD.

    Channels call this through the normalised messages, so a NUL a person sends is dropped rather
    than failing the webhook (which the platform would retry forever). Data with nothing to clean is
    returned as it is (the same object)."""
    if isinstance(value, str):
        if UNSTORABLE.search(value) is None:
            return value
        return UNSTORABLE.sub(lambda match: "" if match.group() == "\x00" else "\ufffd", value)
    if isinstance(value, dict | list | tuple) and _clean_json(value):
        return value
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(storable(item) for item in value)
    return value


def _clean_json(value: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> bool:
    """Whether JSON-like data certainly holds nothing to clean, told by one pass of the C encoder
    rather than a Python walk of every value (a platform's raw update has dozens).

    The encoder writes NUL as the escape `\\u0000` and lone surrogates as themselves, so neither can
    hide; a backslash the text had is written doubled, so "\\\\u0000" (a person typing it) is not taken
    for a NUL. Data the encoder refuses (not JSON-like) goes the slow way.
    """
    try:
        encoded = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return False
    return _ESCAPED_NUL.search(encoded) is None and UNSTORABLE.search(encoded) is None


def _store_cleanly(instance: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(instance, name)
        cleaned = storable(value)
        if cleaned is not value:
            object.__setattr__(instance, name, cleaned)


@dataclass(frozen=True, slots=True)
class ConversationReference:
    """A serialisable address of a conversation: enough to speak first, from any instance, after restarts.

    `chat_id` is where replies go on the platform (a Telegram chat, a Slack channel, a phone number);
    `thread_id` narrows it (a Slack thread). `creator_id` is the creator whose twin is talking.
    """

    channel: str
    chat_id: str
    creator_id: str | None = None
    thread_id: str | None = None

    def __post_init__(self) -> None:
        _store_cleanly(self, ("channel", "chat_id", "creator_id", "thread_id"))

    def to_dict(self) -> dict[str, str | None]:
        """A JSON-ready form, stored with outbox rows and scheduled jobs."""
        return {
            "channel": self.channel,
            "chat_id": self.chat_id,
            "creator_id": self.creator_id,
            "thread_id": self.thread_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversationReference:
        """The inverse of `to_dict`."""
        return cls(
            channel=str(data["channel"]),
            chat_id=str(data["chat_id"]),
            creator_id=data.get("creator_id"),
            thread_id=data.get("thread_id"),
        )


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with a message; fetched lazily by whoever needs its bytes."""

    kind: str  # "document", "image", "audio", ...
    file_name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    url: str | None = None  # where to download it (with the channel's credentials)
    platform_file_id: str | None = None  # e.g. Telegram's file_id

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, stored in the inbox."""
        return {
            "kind": self.kind,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "size": self.size,
            "url": self.url,
            "platform_file_id": self.platform_file_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attachment:
        """The inverse of `to_dict`."""
        return cls(**{key: data.get(key) for key in cls.__slots__})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message from a person, whatever the channel.

    `message_id` is the platform's own id for it (Telegram `update_id`, Slack `event_id`, Twilio
    `MessageSid`): the inbox dedupes on (channel, message_id), so redeliveries are answered once.
    """

    channel: str
    user_id: str
    conversation: ConversationReference
    message_id: str
    text: str
    received_at: datetime
    user_name: str | None = None
    attachments: tuple[Attachment, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _store_cleanly(self, ("channel", "user_id", "message_id", "text", "user_name", "raw"))

    @property
    def creator_id(self) -> str | None:
        """The creator this message is addressed to, when the channel knows it."""
        return self.conversation.creator_id


@dataclass(frozen=True, slots=True)
class Source:
    """A piece of the creator's material a reply relied on."""

    document: str
    location: str
    relevance_score: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the chat API returns."""
        return {"document": self.document, "location": self.location, "relevance_score": self.relevance_score}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Source:
        """The inverse of `to_dict`."""
        return cls(str(data["document"]), str(data["location"]), float(data["relevance_score"]))


def source_labels(sources: tuple[Source, ...] | list[Source]) -> list[str]:
    """Each source as "[n] Title (location)", numbered as the reply cites them: what every channel
    shows after a reply (the responder lists each source once, in the order of its first `[n]`)."""
    labels: list[str] = []
    for source in sources:
        label = f"{source.document} ({source.location})" if source.location else source.document
        if label not in labels:
            labels.append(label)
    return [f"[{number}] {label}" for number, label in enumerate(labels, start=1)]


@dataclass(frozen=True, slots=True)
class Button:
    """A choice the user can tap where the channel has buttons; other channels list them as text."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to a person. Channels that cannot render buttons or sources fall back to text."""

    conversation: ConversationReference
    text: str
    sources: tuple[Source, ...] = ()
    buttons: tuple[Button, ...] = ()
    reply_to_message_id: str | None = None  # the platform id of the message this answers, if any
    # Files to attach, by a URL the platform can fetch (channels that cannot attach show the links).
    media_urls: tuple[str, ...] = ()
