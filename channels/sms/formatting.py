"""An outgoing message as SMS text: buttons as a numbered list, sources in one short line, and the
whole kept within the configured number of segments.

A reply longer than one message (1,600 characters) becomes several, numbered "1/2 ", "2/2 "…
because carriers may deliver separate messages out of order. A reply longer than
`max_segments` is cut at the last sentence that fits and ends with `CUT_NOTE`; the sources line is
dropped before any of the answer is.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.foundation.messages import Button, OutgoingMessage, Source
from channels.sms.segments import (
    MAX_MESSAGE_UNITS,
    char_ends,
    longest_prefix,
    plain_typography,
    segment_count,
    sentence_ends,
    split_message,
    word_ends,
)

CUT_NOTE = "(Cut short for SMS - ask me for more.)"
MAX_SOURCES = 2
MAX_SOURCE_TITLE = 40
# Room kept for the "12/12 " numbering of a reply sent as several messages.
_NUMBERING_ROOM = 6


@dataclass(frozen=True, slots=True)
class SmsText:
    """A message ready for Twilio: its parts (one Twilio message each) and their total segments."""

    parts: tuple[str, ...]

    @property
    def segments(self) -> int:
        """The SMS segments all parts use: what the outbox paces by."""
        return sum(segment_count(part) for part in self.parts)


def buttons_line(buttons: tuple[Button, ...]) -> str:
    """Choices as text: "Reply 1 for Yes, 2 for No." (SMS has no buttons)."""
    if not buttons:
        return ""
    choices = [f"{index} for {button.label}" for index, button in enumerate(buttons, start=1)]
    return "Reply " + ", ".join(choices) + "."


def sources_line(sources: tuple[Source, ...]) -> str:
    """At most two sources, short and numbered as cited: "Sources: [1] Habits (page 4); [2] Goals"."""
    if not sources:
        return ""
    shown = []
    for number, source in enumerate(sources[:MAX_SOURCES], start=1):
        title = source.document.strip()
        if len(title) > MAX_SOURCE_TITLE:
            title = title[: MAX_SOURCE_TITLE - 3].rstrip() + "..."
        shown.append(f"[{number}] {title} ({source.location})" if source.location else f"[{number}] {title}")
    label = "Source" if len(shown) == 1 else "Sources"
    return f"{label}: " + "; ".join(shown)


def _join(*blocks: str) -> str:
    return "\n\n".join(block for block in blocks if block)


def as_parts(body: str) -> tuple[str, ...]:
    """`body` as Twilio messages of at most 1,600 characters, numbered "1/2 " when several."""
    parts = split_message(body, MAX_MESSAGE_UNITS)
    if len(parts) <= 1:
        return tuple(parts)
    parts = split_message(body, MAX_MESSAGE_UNITS - _NUMBERING_ROOM)
    return tuple(f"{index}/{len(parts)} {part}" for index, part in enumerate(parts, start=1))


def _segments(body: str) -> int:
    return SmsText(as_parts(body)).segments


def render(message: OutgoingMessage, *, max_segments: int) -> SmsText:
    """The SMS form of `message`, using at most `max_segments` segments."""
    text = plain_typography(message.text.strip())
    buttons = plain_typography(buttons_line(message.buttons))
    sources = plain_typography(sources_line(message.sources))
    for body in (_join(text, buttons, sources), _join(text, buttons)):
        if _segments(body) <= max_segments:
            return SmsText(as_parts(body))
    return SmsText(as_parts(_cut(text, buttons, max_segments)))


def _cut(text: str, buttons: str, max_segments: int) -> str:
    """The longest beginning of `text` that fits with the cut note and the choices."""

    def fits_sentences(prefix: str) -> bool:
        return _segments(_join(prefix.rstrip() + " " + CUT_NOTE, buttons)) <= max_segments

    def fits_words(prefix: str) -> bool:
        return _segments(_join(prefix.rstrip() + "... " + CUT_NOTE, buttons)) <= max_segments

    cut = longest_prefix(text, sentence_ends(text), fits_sentences)
    if cut:
        return _join(text[:cut].rstrip() + " " + CUT_NOTE, buttons)
    cut = longest_prefix(text, word_ends(text), fits_words) or longest_prefix(
        text, char_ends(text), fits_words
    )
    if cut:
        return _join(text[:cut].rstrip() + "... " + CUT_NOTE, buttons)
    # Not even the note fits beside the choices (a tiny segment cap): keep what fits of it all.
    whole = _join(text, buttons)
    return whole[: longest_prefix(whole, char_ends(whole), lambda prefix: _segments(prefix) <= max_segments)]
