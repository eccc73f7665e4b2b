"""What a passage is: prose worth quoting, or a table of contents, an index, a form, a table, page
furniture or a list of links, which stay searchable but are never quoted as an answer (nor the
blanks of a worksheet).

Each kind is recognised by a measurable rule over the passage's lines (shares of lines with a trait,
counts of a pattern), so a misclassification can be explained and a threshold argued about:

| kind        | rule (first that holds wins)                                                              |
|-------------|--------------------------------------------------------------------------------------------|
| `form`      | ≥ 2 blanks (`___`, `[ ]`, `□`) and lines with one hold ≥ 50% of the text — a worksheet    |
| `toc`       | ≥ 3 entries "title … 12" or ≥ 50% of ≥ 3 lines end in a page number after a title          |
| `index`     | ≥ 50% of ≥ 4 lines are "term, 12, 40" entries                                              |
| `links`     | ≥ 50% of lines hold a URL or e-mail address, or URLs are ≥ 40% of the characters           |
| `table`     | ≥ 50% of lines have cells (`a | b`), or ≥ 35% of words are numbers with no sentence in it |
| `furniture` | under 12 words with no sentence, or ≥ 50% of lines are page furniture (page x, ©, issue no.)|
| `list`      | ≥ 50% of lines are bullet or numbered items (quotable: advice is often a list)            |

Quoted: prose, lists, and the prose sentences of forms; every quoted sentence must also pass
`is_quotable_sentence` (no blanks, no contents leaders, no table cells run together, no dangling end).
| `prose`     | everything else                                                                            |
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, Literal

PassageKind = Literal["prose", "list", "toc", "index", "form", "table", "furniture", "links"]
PASSAGE_KINDS: Final[tuple[PassageKind, ...]] = (
    "prose",
    "list",
    "toc",
    "index",
    "form",
    "table",
    "furniture",
    "links",
)
# Only these are ever quoted back to a person as an answer, and from a form only the sentences that
# are prose (`is_quotable_sentence`): a worksheet's instructions ("Ask your doctor for an A1C test at
# least twice a year.") often share a page with its blanks.
QUOTABLE_KINDS: Final[frozenset[str]] = frozenset({"prose", "list", "form"})

_BLANK = re.compile(r"_{3,}|\[\s?\]|□|☐")
_TOC_ENTRY = re.compile(r"[A-Za-z][^…\n]{2,}?\s*(?:…|\.{3,})\s*\d{1,3}\b")
_TOC_LINE = re.compile(r"^[A-Z][A-Za-z ,'’:&()-]{2,80}?\s+\d{1,3}$")
_INDEX_LINE = re.compile(
    r"^[^\d,]{2,60},\s*\d{1,4}(?:\s*[-–]\s*\d{1,4})?(?:,\s*\d{1,4}(?:\s*[-–]\s*\d{1,4})?)*$"
)
_URL = re.compile(
    r"https?://\S+|www\.\S+|\b[\w.+-]+@[\w-]+\.[\w.-]+\b|\b[\w-]+\.(?:gov|org|com|net|edu)\b\S*"
)
_CELLS = re.compile(r"\S\s\|\s\S|\t")
_NUMBER = re.compile(r"^[\d.,/%–-]+$")
_SENTENCE = re.compile(r"[a-z][a-z,;'’ ]+\b[a-z]{2,}[.!?](?:\s|$)")
_SENTENCE_END = re.compile(r"[a-z]{2}[.!?](?:\s|$)")
_SENTENCE_REACH = 200
_FURNITURE = re.compile(
    r"^(?:page\s+\d+|\d+\s*$|©|copyright\b|all rights reserved|continued\b|nih publication|"
    r"publication no\.|issue\s+\d+|vol(?:ume)?\.?\s+\d+|printed in|www\.)",
    re.IGNORECASE,
)
_ITEM = re.compile(r"^(?:[•◦▪●*-]|\d{1,3}[.)]|[a-z][.)])\s+")


def classify_passage(text: str) -> PassageKind:
    """The kind of a chunk of a document (see the module's table for the rules)."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if not lines:
        return "furniture"
    words = text.split()
    share = _Shares(lines)
    blanks = len(_BLANK.findall(text))
    if blanks >= 2 and share.of_text(lambda line: bool(_BLANK.search(line))) >= 0.5:
        return "form"
    toc_lines = share.count(lambda line: bool(_TOC_LINE.match(line)))
    if _toc_entries(text) >= 3 or (toc_lines >= 3 and toc_lines / len(lines) >= 0.5):
        return "toc"
    if len(lines) >= 4 and share.of(lambda line: bool(_INDEX_LINE.match(line))) >= 0.5:
        return "index"
    url_chars = sum(len(match) for match in _URL.findall(text))
    if share.of(lambda line: bool(_URL.search(line))) >= 0.5 or url_chars >= 0.4 * len(text):
        return "links"
    has_sentence = _has_sentence(text)
    if share.of(lambda line: bool(_CELLS.search(line))) >= 0.5:
        return "table"
    numbers = sum(1 for word in words if _NUMBER.match(word))
    if len(words) >= 8 and numbers >= 0.35 * len(words) and not has_sentence:
        return "table"
    if (len(words) < 12 and not has_sentence) or share.of(lambda line: bool(_FURNITURE.match(line))) >= 0.5:
        return "furniture"
    if share.of(lambda line: bool(_ITEM.match(line))) >= 0.5:
        return "list"
    return "prose"


def _has_sentence(text: str) -> bool:
    """Whether `_SENTENCE` matches anywhere, looking only just before each sentence end.

    Searched from every position, the pattern is quadratic in a long line (24 ms for one 900-character
    chunk, on every chunk at ingestion). Every match ends at a sentence end (`_SENTENCE_END`), and if
    one starts far back another starts at the last lowercase letter before the final word's run of
    separators: so a window of `_SENTENCE_REACH` characters before each end finds the same answer
    unless the sentence's last word alone is longer than that.
    """
    for end in _SENTENCE_END.finditer(text):
        if _SENTENCE.search(text, max(0, end.start() - _SENTENCE_REACH), end.end()):
            return True
    return False


def _toc_entries(text: str) -> int:
    """How many "title … 12" entries the text holds. Every entry has a leader ("…" or "..."): without
    one the answer is 0 at once, where the search alone is quadratic in a long line (34 ms for one
    900-character line of prose, on every chunk at ingestion)."""
    if "…" not in text and "..." not in text:
        return 0
    return len(_TOC_ENTRY.findall(text))


_GARBLED_OR = re.compile(r"(?:^|\s)OR(?:\s|$)")
# A table row that reads as a phrase: a label of words, then one value ("Before meals 70 to 130"); the
# label may itself start with a span of time or amount ("1 to 2 hours after the start of a meal less
# than 180"), as long as words follow it.
_RANGE = r"\d+(?:\.\d+)?\s+to\s+\d+(?:\.\d+)?"
_VALUE_ROW = re.compile(
    rf"^(?:{_RANGE}\s+)?[A-Za-z][A-Za-z ,'’()-]{{8,}}\s(?:{_RANGE}|(?:less|more|fewer) than \d+(?:\.\d+)?)$"
)
# A pointer to elsewhere in the printed booklet ("Go back to page 9, 10, or 11 ..."): page furniture,
# meaningless in a chat reply.
_CROSS_REFERENCE = re.compile(
    r"\b(?:go back to|turn to|see|refer to|return to|look at|check)\s+(?:the\s+\w+\s+on\s+)?pages?\s+\d",
    re.IGNORECASE,
)
_SHORT_NUMBER = re.compile(r"^(?:\d+(?:[/⁄.,]\d+)?|\d*[½¼¾⁄]\d*)$")


_DANGLING = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "and",
        "or",
        "for",
        "with",
        "from",
        "by",
        "in",
        "on",
        "at",
        "as",
        "than",
        "that",
        "your",
        "my",
        "our",
        "their",
        "is",
        "are",
        "be",
        "if",
        "when",
        "because",
        "so",
        "but",
        "which",
        "who",
    ]
)


def is_quotable_sentence(text: str) -> bool:
    """Whether one sentence reads as prose: no blanks to fill in, no contents leader ("… 12"), not the
    cells of a table run together ("OR 1 small 1/2 cup juice 1/2 grapefruit apple"), not a pointer to
    another page ("Go back to page 9"), and not ending on a word that needs another after it ("of",
    "the"). A table row that reads as a phrase, a label then one value ("Before meals 70 to 130"),
    is quotable."""
    if _BLANK.search(text) or re.search(r"…\s*\d", text) or _CROSS_REFERENCE.search(text):
        return False
    if is_value_row(text):
        return True
    words = text.split()
    numbers = sum(1 for word in words if _SHORT_NUMBER.match(word))
    if _GARBLED_OR.search(text) and numbers >= 2:
        return False
    if words and words[-1].lower() in _DANGLING:
        return False  # cut mid-phrase ("... 1 cup 1 serving of"): a table cell or a broken line
    if len(words) >= 10 and numbers >= 2 and text.rstrip()[-1:] not in '.!?:;)"”’':
        return False  # a table's cells run together by the PDF's text layer, with no sentence end
    return not (len(words) >= 6 and numbers >= 0.3 * len(words))


def is_value_row(text: str) -> bool:
    """Whether `text` is a table row that reads as a phrase: a label of words, then one value."""
    return bool(_VALUE_ROW.match(text.strip()))


def is_quotable(kind: str) -> bool:
    """Whether a passage of this kind may be quoted as an answer (unknown kinds: no)."""
    return kind in QUOTABLE_KINDS


class _Shares:
    """Counts and shares of a passage's lines with a trait."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    def count(self, trait: Callable[[str], bool]) -> int:
        """How many lines have the trait."""
        return sum(1 for line in self._lines if trait(line))

    def of_text(self, trait: Callable[[str], bool]) -> float:
        """The share of the characters that are in lines with the trait."""
        return sum(len(line) for line in self._lines if trait(line)) / sum(len(line) for line in self._lines)

    def of(self, trait: Callable[[str], bool]) -> float:
        """The share of lines that have the trait."""
        return self.count(trait) / len(self._lines)
