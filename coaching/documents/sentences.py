"""Cutting a chunk into the sentences an answer quotes: each line (a paragraph, a list item, a table
row) is a unit of its own, and a line is cut further at sentence ends.

A cut needs a sentence end (. ! ? …, with closing quotes or brackets) followed by a space and a capital,
a digit or an opening quote, and not right after a common abbreviation ("Dr.", "e.g.", "U.S."), so
"Dr. Lee said" and "1/2 cup" stay whole.

A PDF's text layer often runs a table, a form and prose into one "sentence" ("... Before meals 70 to
130 1 to 2 hours after ... less than 180 Talk with your provider ... write them here: My Target ...
___ to ___ ... Ask your doctor how often ..."). A sentence that is not quotable as a whole
(`passage_kinds.is_quotable_sentence`) is cut further where its structure changes — after a blank, a
colon or a value, before a capital or the next value. Only the pieces that stand alone are kept: a
whole sentence ending in its stop, or a table row that reads as a phrase ("Before meals 70 to 130");
the rest (blanks, "write them here:", cells) is left out of the sentences, so the prose in a form
can be quoted while its blanks cannot. Quotable sentences are never cut this way.
"""

from __future__ import annotations

import re

from coaching.documents.passage_kinds import is_quotable_sentence, is_value_row

# A footnote ("... or fish* *Three ounces ...") starts a sentence of its own.
_END = re.compile(r"(?:[.!?…]+[\"”’)\]]*|\*)\s+(?=[\"“‘(\[*]?[A-Z0-9•])")
_ABBREVIATION = re.compile(
    r"(?:\b(?:Dr|Mr|Mrs|Ms|Prof|St|Jr|Sr|vs|etc|approx|No|Fig|Vol|e\.g|i\.e|U\.S|a\.m|p\.m)|\b[A-Z])\.$"
)
_LINE = re.compile(r"[^\n]+")
_STOP = re.compile(r"[.!?][\"”’)\]]*$")
# Where a run-on of table, form and prose changes structure: after a blank or a colon before a capital
# ("___ Ask", "here: My"), after a value before a capital ("180 Talk"), after a range before the next
# value ("70 to 130 1 to 2 hours").
_STRUCTURE = re.compile(
    r"(?:_{3,}|:|(?<=\d)(?=\s+[A-Z][a-z])|\b\d+(?:\.\d+)?\s+to\s+\d+(?:\.\d+)?(?=\s+\d))\s+(?=[A-Z0-9])"
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of `text`, in order; whitespace around them excluded."""
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        start = line.start()
        for match in _END.finditer(line.group()):
            candidate = line.group()[: match.start() + len(match.group().rstrip())]
            if _ABBREVIATION.search(candidate):
                continue
            spans.extend(_pieces(text, *_trimmed(text, start, line.start() + match.end())))
            start = line.start() + match.end()
        spans.extend(_pieces(text, *_trimmed(text, start, line.end())))
    return [(begin, end) for begin, end in spans if end > begin]


def _pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The sentence `text[start:end]` whole when it is quotable, else cut where its structure changes."""
    if is_quotable_sentence(text[start:end]):
        return [(start, end)]
    pieces: list[tuple[int, int]] = []
    for match in _STRUCTURE.finditer(text, start, end):
        pieces.append(_trimmed(text, start, match.end()))
        start = match.end()
    pieces.append(_trimmed(text, start, end))
    return [(begin, stop) for begin, stop in pieces if _stands_alone(text[begin:stop])]


def _stands_alone(piece: str) -> bool:
    """Whether a piece of a run-on reads on its own: a whole sentence, or a labelled value."""
    return is_value_row(piece) or (
        bool(_STOP.search(piece)) and piece[:1].isupper() and is_quotable_sentence(piece)
    )


def split_sentences(text: str) -> list[str]:
    """The sentences of `text` as strings (see `sentence_spans`)."""
    return [text[start:end] for start, end in sentence_spans(text)]


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
