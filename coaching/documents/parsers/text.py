"""Plain text: paragraphs between blank lines, headings by their look, Project Gutenberg's frame removed."""

from __future__ import annotations

import re

from coaching.documents.model import ParsedDocument
from coaching.documents.parsers.cleaning import clean_line, hyphenated_words, join_lines
from coaching.documents.parsers.encoding import decode_text
from coaching.documents.parsers.sections import SectionBuilder

_GUTENBERG_START = re.compile(
    r"^\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$", re.IGNORECASE | re.MULTILINE
)
_GUTENBERG_END = re.compile(
    r"^(?:\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG|End of (?:the )?Project Gutenberg)",
    re.IGNORECASE | re.MULTILINE,
)
_GUTENBERG_TITLE = re.compile(r"^Title:[ \t]*(.+)$", re.MULTILINE)
_PRODUCED_BY = re.compile(r"\A\s*(?:Produced|Prepared|Transcribed) by\b.*?(?:\n[ \t]*\n|\Z)", re.DOTALL)
_BLANK_LINES = re.compile(r"\n[ \t]*\n")
_EMPHASIS = re.compile(r"(?<!\w)_([^_]{1,2000})_(?!\w)")
_MINOR_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"}
)


def parse_text(filename: str, data: bytes) -> ParsedDocument:
    """A plain-text file: paragraphs between blank lines, short capitalised lines as headings."""
    text = decode_text(data)
    gutenberg_title, text = _strip_gutenberg(text)
    blocks = [block for block in _BLANK_LINES.split(text) if block.strip()]
    hyphenated = hyphenated_words(blocks)
    sections = SectionBuilder()
    for index, block in enumerate(blocks):
        lines = [line for line in map(clean_line, _EMPHASIS.sub(r"\1", block).split("\n")) if line]
        if len(lines) == 1 and _looks_like_heading(lines[0]) and index + 1 < len(blocks):
            sections.heading(1, lines[0])
        else:
            sections.paragraph(join_lines(lines, hyphenated))
    first = blocks[0].strip().split("\n") if blocks else []
    title = gutenberg_title or (
        clean_line(first[0]) if len(first) == 1 and _looks_like_heading(first[0]) else None
    )
    return sections.document("txt", filename, title)


def _strip_gutenberg(text: str) -> tuple[str | None, str]:
    """(the book's title, the text between Project Gutenberg's header and footer), if it has them."""
    start = _GUTENBERG_START.search(text)
    if start is None:
        return None, text
    title_match = _GUTENBERG_TITLE.search(text, 0, start.start())
    end = _GUTENBERG_END.search(text, start.end())
    body = text[start.end() : end.start() if end else len(text)]
    body = _PRODUCED_BY.sub("", body, count=1)
    return (clean_line(title_match.group(1)) if title_match else None), body


def _looks_like_heading(line: str) -> bool:
    """A short line in capitals or Title Case with no closing punctuation, such as "CHAPTER II"."""
    words = line.split()
    if not 1 <= len(words) <= 10 or len(line) > 70 or line[-1] in ".,;:!\"'”’)-" or line[0] in "\"'“‘([":
        return False
    letters = [char for char in line if char.isalpha()]
    if len(letters) < 2:
        return False
    if all(char.isupper() for char in letters):
        return True
    significant = [word for word in words if word.lower() not in _MINOR_WORDS and word[0].isalpha()]
    return words[0][0].isupper() and bool(significant) and all(word[0].isupper() for word in significant)
