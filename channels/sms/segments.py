"""SMS encodings and segments: GSM-7 or UCS-2, what a text costs, and splitting it into messages.

A message is GSM-7 when every character is in the GSM 03.38 default alphabet or its extension table
(whose characters, such as `€` and `{`, cost two septets); otherwise the whole message is UCS-2. A
message of up to 160 septets (GSM-7) or 70 UTF-16 code units (UCS-2) is one segment; a longer one is
sent as concatenated segments of 153 septets or 67 code units, since each carries a header. Segments
never split an extension character's two septets nor an emoji's surrogate pair.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

# GSM 03.38 default alphabet (3GPP TS 23.038), without the escape code 0x1B that introduces the extension.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each character is sent as escape + code, two septets.
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# Typography a model likes to write that is outside GSM-7; one such character makes a whole
# message UCS-2 (70 characters a segment instead of 160), so it is replaced by its plain form.
_PLAIN_FORMS = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u2022": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u200b": "",
        "\t": " ",
    }
)

# Twilio refuses a message body longer than this (error 21617).
MAX_MESSAGE_UNITS = 1600


class Encoding(StrEnum):
    """How an SMS is encoded on the air."""

    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True, slots=True)
class Measure:
    """What a text costs: its encoding, its length in that encoding's units, and its segments."""

    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def plain_typography(text: str) -> str:
    """Replace curly quotes, dashes, ellipses and odd spaces by GSM-7 equivalents (emoji are kept)."""
    return text.translate(_PLAIN_FORMS)


def encoding_of(text: str) -> Encoding:
    """GSM-7 when every character has a GSM-7 code, else UCS-2."""
    if all(char in _GSM7_BASIC or char in _GSM7_EXTENSION for char in text):
        return Encoding.GSM7
    return Encoding.UCS2


def _char_costs(text: str, encoding: Encoding) -> list[int]:
    if encoding is Encoding.GSM7:
        return [2 if char in _GSM7_EXTENSION else 1 for char in text]
    # Iterating a str gives code points: a character beyond the BMP (most emoji) is one item
    # costing two UTF-16 code units, so it is never cut in half below.
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def units(text: str) -> int:
    """The text's length in its encoding's units (septets or UTF-16 code units)."""
    return sum(_char_costs(text, encoding_of(text)))


def measure(text: str) -> Measure:
    """Encoding, units and segment count of one message."""
    encoding = encoding_of(text)
    costs = _char_costs(text, encoding)
    total = sum(costs)
    single, per_segment = (160, 153) if encoding is Encoding.GSM7 else (70, 67)
    if total <= single:
        return Measure(encoding, total, 1)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > per_segment:  # an escape pair or a surrogate pair starts the next segment
            segments += 1
            used = 0
        used += cost
    return Measure(encoding, total, segments)


def segment_count(text: str) -> int:
    """How many SMS segments one message of this text is sent as."""
    return measure(text).segments


# A sentence ends with . ! or ? (perhaps closed by a quote or bracket) and whitespace, or at a line break.
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+|\n+")
_WORD_END = re.compile(r"\s+")


def sentence_ends(text: str) -> list[int]:
    """Offsets just after each sentence of `text` (the last one is `len(text)`)."""
    ends = [match.end() for match in _SENTENCE_END.finditer(text)]
    if not ends or ends[-1] != len(text):
        ends.append(len(text))
    return ends


def word_ends(text: str) -> list[int]:
    """Offsets just after each word and its following space (the last one is `len(text)`)."""
    ends = [match.end() for match in _WORD_END.finditer(text)]
    if not ends or ends[-1] != len(text):
        ends.append(len(text))
    return ends


def _joins_previous(char: str) -> bool:
    # Characters that belong to the one before: combining marks, variation selectors, skin tones.
    return (
        unicodedata.category(char) in ("Mn", "Me")
        or "\ufe00" <= char <= "\ufe0f"
        or "\U0001f3fb" <= char <= "\U0001f3ff"
        or char == "\u200d"
    )


def char_ends(text: str) -> list[int]:
    """Offsets where `text` may be cut mid-word without breaking a character or an emoji sequence."""
    return [
        index
        for index in range(1, len(text) + 1)
        if index == len(text) or not (_joins_previous(text[index]) or text[index - 1] == "\u200d")
    ]


def longest_prefix(text: str, ends: list[int], fits: Callable[[str], bool]) -> int:
    """The largest offset in `ends` whose prefix `fits`, or 0 (the prefix grows with the offset)."""
    low, high, best = 0, len(ends) - 1, 0
    while low <= high:
        middle = (low + high) // 2
        if fits(text[: ends[middle]]):
            best = ends[middle]
            low = middle + 1
        else:
            high = middle - 1
    return best


def split_message(text: str, limit: int = MAX_MESSAGE_UNITS) -> list[str]:
    """Split `text` into messages of at most `limit` units, at sentence boundaries where possible.

    A sentence longer than a message is cut between words, and a word longer than that between
    characters (never inside a surrogate pair or an emoji sequence).
    """
    parts: list[str] = []
    rest = text.strip()

    def fits(candidate: str) -> bool:
        return units(candidate.rstrip()) <= limit

    while rest:
        if fits(rest):
            parts.append(rest.rstrip())
            break
        cut = (
            longest_prefix(rest, sentence_ends(rest), fits)
            or longest_prefix(rest, word_ends(rest), fits)
            or longest_prefix(rest, char_ends(rest), fits)
            or 1
        )
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [part for part in parts if part]
