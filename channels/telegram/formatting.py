"""Outgoing text for Telegram: plain text split under the 4096-character limit, sources, buttons.

Replies go out as plain text (no `parse_mode`): model output is full of characters that Markdown and
HTML modes would have to escape, and one missed escape makes Telegram refuse the whole message. Plain
text cannot break, so a split can never leave a formatting entity open.

Telegram counts a message's length in UTF-16 code units (an emoji counts twice), so lengths here do
too. A long text is cut on paragraph boundaries first, then lines, then sentences, then words, and only
as a last resort inside a word.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.foundation.messages import Button, OutgoingMessage, Source, source_labels

MAX_MESSAGE_CHARS = 4096
# Telegram's limit on an inline button's callback_data, in bytes.
MAX_CALLBACK_DATA_BYTES = 64

_SENTENCE_END = re.compile(r"(?<=[.!?…。])\s+")


def telegram_length(text: str) -> int:
    """The length Telegram measures: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """What one `OutgoingMessage` becomes on Telegram: text parts, and buttons for the last part."""

    parts: tuple[str, ...]
    buttons: tuple[Button, ...] = ()


def render(message: OutgoingMessage, limit: int = MAX_MESSAGE_CHARS) -> RenderedMessage:
    """Split the text, add the sources to the end, and keep the buttons Telegram can carry.

    Buttons whose value does not fit in `callback_data` (64 bytes) cannot be tapped back to us
    intact; rather than truncating a value the core would then not recognise, all the choices are
    listed in the text and the person types one.
    """
    text = message.text.strip()
    buttons = message.buttons
    if buttons and not all(fits_callback_data(button.value) for button in buttons):
        choices = "\n".join(f"• {button.value}" for button in buttons)
        text = f"{text}\n\nReply with one of:\n{choices}".strip()
        buttons = ()
    parts = split_text(text, limit)
    sources = sources_line(message.sources)
    if sources:
        if parts and telegram_length(parts[-1]) + 2 + telegram_length(sources) <= limit:
            parts[-1] = f"{parts[-1]}\n\n{sources}"
        else:
            parts += split_text(sources, limit)
    return RenderedMessage(tuple(parts), buttons)


def fits_callback_data(value: str) -> bool:
    """Whether a button value fits Telegram's `callback_data` (1-64 bytes)."""
    return 0 < len(value.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES


def sources_line(sources: Sequence[Source]) -> str:
    """A compact sources block, e.g. `Sources: Sleep guide (page 4); Habits (section 'Goals')`."""
    labels = source_labels(tuple(sources))
    return f"Sources: {'; '.join(labels)}" if labels else ""


def split_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Cut `text` into parts of at most `limit` UTF-16 units, on the largest boundaries that allow it."""
    text = text.strip()
    if not text:
        return []
    return [part for part in _split(text, limit, 0) if part]


# Each level splits into pieces and says how to glue neighbouring pieces back together.
_Splitter = Callable[[str], list[str]]
_LEVELS: tuple[tuple[_Splitter, str], ...] = (
    (lambda text: re.split(r"\n\s*\n", text), "\n\n"),  # paragraphs
    (lambda text: text.split("\n"), "\n"),  # lines (list items)
    (lambda text: _SENTENCE_END.split(text), " "),  # sentences
    (lambda text: text.split(" "), " "),  # words
)


def _split(text: str, limit: int, level: int) -> list[str]:
    if telegram_length(text) <= limit:
        return [text]
    if level == len(_LEVELS):
        return _hard_cut(text, limit)
    split, glue = _LEVELS[level]
    parts: list[str] = []
    current = ""
    for piece in (piece.strip() for piece in split(text)):
        if not piece:
            continue
        joined = f"{current}{glue}{piece}" if current else piece
        if telegram_length(joined) <= limit:
            current = joined
            continue
        if current:
            parts.append(current)
        if telegram_length(piece) <= limit:
            current = piece
        else:  # one piece too long for a part on its own: cut it on smaller boundaries
            smaller = _split(piece, limit, level + 1)
            parts += smaller[:-1]
            current = smaller[-1]
    if current:
        parts.append(current)
    return parts


def _hard_cut(text: str, limit: int) -> list[str]:
    """Cut a single unbreakable run (a very long URL, say) into pieces; never splits a character."""
    parts: list[str] = []
    current: list[str] = []
    length = 0
    for char in text:
        width = 2 if ord(char) > 0xFFFF else 1
        if length + width > limit:
            parts.append("".join(current))
            current, length = [], 0
        current.append(char)
        length += width
    if current:
        parts.append("".join(current))
    return parts
