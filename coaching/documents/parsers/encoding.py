"""Bytes of a text file as text, whatever encoding it was saved in."""

from __future__ import annotations

import codecs
import unicodedata

import charset_normalizer

# Text files that are not UTF-8 mostly come from Windows in Western Europe and the Americas. On a short
# text several single-byte code pages decode the bytes without a flaw (charset-normalizer ranks
# "café" as cp1250 as readily as cp1252); among those equally clean readings this one is preferred.
_WESTERN = "cp1252"


def decode_text(data: bytes) -> str:
    """Bytes as text, with line endings as "\\n" and Unicode in NFC.

    A byte order mark or valid UTF-8 decides at once. Anything else is detected by charset-normalizer
    (Cyrillic, Greek, Central European, Japanese code pages...), preferring Windows-1252 when it reads
    the text as cleanly as the best guess; bytes nothing reads become U+FFFD rather than an error.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", errors="replace")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode(_detect_encoding(data), errors="replace")
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def _detect_encoding(data: bytes) -> str:
    """The encoding charset-normalizer finds most plausible, Windows-1252 among equally clean readings."""
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        return _WESTERN
    for match in matches:
        if match.chaos <= best.chaos and _WESTERN in match.could_be_from_charset:
            return _WESTERN
    return best.encoding
