"""Cutting a chunk into the sentences an answer quotes: each line (a paragraph, a list item, a table
row) is a unit of its own, and a line is cut further at sentence ends.

A cut needs a sentence end (. ! ? …, with closing quotes or brackets) followed by a space and a capital,
a digit or an opening quote, and not right after a common abbreviation ("Dr.", "e.g.", "U.S."), so
"Dr. Lee said" and "1/2 cup" stay whole.
"""

from __future__ import annotations

import re

# A footnote ("... or fish* *Three ounces ...") starts a sentence of its own.
_END = re.compile(r"(?:[.!?…]+[\"”’)\]]*|\*)\s+(?=[\"“‘(\[*]?[A-Z0-9•])")
_ABBREVIATION = re.compile(
    r"(?:\b(?:Dr|Mr|Mrs|Ms|Prof|St|Jr|Sr|vs|etc|approx|No|Fig|Vol|e\.g|i\.e|U\.S|a\.m|p\.m)|\b[A-Z])\.$"
)
_LINE = re.compile(r"[^\n]+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of `text`, in order; whitespace around them excluded."""
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        start = line.start()
        for match in _END.finditer(line.group()):
            candidate = line.group()[: match.start() + len(match.group().rstrip())]
            if _ABBREVIATION.search(candidate):
                continue
            spans.append(_trimmed(text, start, line.start() + match.end()))
            start = line.start() + match.end()
        spans.append(_trimmed(text, start, line.end()))
    return [(begin, end) for begin, end in spans if end > begin]


def split_sentences(text: str) -> list[str]:
    """The sentences of `text` as strings (see `sentence_spans`)."""
    return [text[start:end] for start, end in sentence_spans(text)]


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
