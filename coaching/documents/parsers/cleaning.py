"""Text clean-up every format shares: invisible characters, whitespace, list markers, broken words."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACES = re.compile(r"[^\S\n]+")
HAS_WORD = re.compile(r"\w")


def clean_line(text: str) -> str:
    """One line with invisible and control characters removed and whitespace runs collapsed."""
    text = _CONTROL.sub(" ", _INVISIBLE.sub("", text))
    return _SPACES.sub(" ", text).strip()


def list_item(text: str, depth: int, number: int | None) -> str:
    """One line of a list block: "• item", "◦ nested item" or "3. numbered item".

    Nesting shows in the marker rather than in indentation, which clean-up and chunking strip.
    """
    marker = f"{number}." if number is not None else ("•" if depth == 0 else "◦")
    return f"{marker} {clean_line(text)}"


def clean_block(text: str) -> str:
    """A multi-line block (list, table, code): each line cleaned, blank lines dropped."""
    lines = (clean_line(line) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def join_lines(lines: Sequence[str], hyphenated: set[str]) -> str:
    """Lines of one paragraph as one line, rejoining words broken at a line end.

    "nutri-" + "tion" becomes "nutrition", but "fat-" + "free" stays "fat-free" when the document
    spells "fat-free" with a hyphen elsewhere: without a dictionary that is the best evidence there is.
    """
    parts: list[str] = []
    for line in lines:
        previous = parts[-1] if parts else ""
        if _broken_word(previous) and line[:1].islower():
            compound = f"{previous.rsplit(' ', 1)[-1][:-1]}-{line.split(' ', 1)[0]}".lower()
            if compound not in hyphenated:
                parts[-1] = previous[:-1]
        elif parts and line[:1] not in ".,;:":
            parts.append(" ")  # no space before punctuation: a URL broken as "www" + ".example.org"
        parts.append(line)
    return "".join(parts)


def _broken_word(text: str) -> bool:
    return len(text) >= 3 and text[-1] == "-" and text[-2].isalpha() and text[-3] != "-"


_HYPHENATED_WORD = re.compile(r"\b[a-z]+-[a-z]+\b")


def hyphenated_words(texts: Iterable[str]) -> set[str]:
    """The hyphenated words the texts spell, lowercased: the evidence `join_lines` rejoins by."""
    return {match.lower() for text in texts for match in _HYPHENATED_WORD.findall(text.lower())}


def title_from_filename(filename: str) -> str:
    """A title made of the file name, for documents that name none ("sleep_guide.pdf" -> "sleep guide")."""
    stem = PurePosixPath(filename).stem
    return clean_line(stem.replace("_", " ").replace("-", " ")) or filename
