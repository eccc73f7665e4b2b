"""Cutting a parsed document into overlapping, structure-aware chunks for retrieval.

A chunk never spans two headings: a heading change is the strongest topic boundary a document
offers. Within one heading, paragraphs are packed up to `target_chars`; a paragraph too long for one
chunk is cut between sentences (between words if a sentence is itself too long). Each chunk after the
first of a heading repeats the end of the previous one, so a passage cut in two can still be found.

Chunk text is the document's own words, without the heading: it is quoted back to users and the
overlap and size limits stay exact. The heading is kept on the chunk (`heading`, `location`) and
`Chunk.embedding_text` puts it in front of the text for the vector, where it helps retrieval.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from coaching.documents.model import HEADING_SEPARATOR, Chunk, ParsedDocument, Section

# A sentence ends at . ! ? or … (plus closing quotes or brackets) before a space and a capital, digit or
# opening quote. Abbreviations such as "Dr. Smith" are cut too; a cut there only costs a boundary.
_SENTENCE_END = re.compile(r"[.!?…]+[\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9•])")
_BOUNDARY = re.compile(r"[.!?…]+[\"”’)\]]*\s+|\n")
_SPACE = re.compile(r"\s")


def chunk_document(
    document: ParsedDocument, *, target_chars: int = 1000, overlap_chars: int = 150, min_chars: int = 80
) -> list[Chunk]:
    """The document's chunks in reading order.

    Every chunk is at most `target_chars` long, except that a trailing piece shorter than `min_chars`
    is merged into the chunk before it; the overlap is at most `overlap_chars`.
    """
    _check_limits(target_chars, overlap_chars, min_chars)
    chunks: list[Chunk] = []
    for heading, sections in itertools.groupby(document.sections, key=lambda section: section.heading):
        drafts = _pack(_pieces(sections, target_chars - overlap_chars - 1), target_chars, overlap_chars)
        for text, draft in _with_overlap(_merge_small_tail(drafts, min_chars), overlap_chars):
            position = len(chunks)
            location = _location(heading, draft.first_page, draft.last_page, position)
            chunks.append(
                Chunk(text=text, position=position, heading=heading, page=draft.first_page, location=location)
            )
    return chunks


def _check_limits(target_chars: int, overlap_chars: int, min_chars: int) -> None:
    if target_chars < 50:
        raise ValueError(f"target_chars must be at least 50, not {target_chars}")
    if not 0 <= overlap_chars <= target_chars // 2:
        raise ValueError(f"overlap_chars must be between 0 and half of target_chars, not {overlap_chars}")
    if not 0 <= min_chars <= target_chars // 2:
        raise ValueError(f"min_chars must be between 0 and half of target_chars, not {min_chars}")


@dataclass(frozen=True, slots=True)
class _Piece:
    """Text that fits in a chunk, with the separator that joins it to the text before."""

    text: str
    page: int | None
    glue: str


@dataclass(slots=True)
class _Draft:
    """A chunk's own text, before the overlap is put in front."""

    text: str
    glue: str
    first_page: int | None
    last_page: int | None

    def add(self, piece: _Piece) -> None:
        """Append a piece of the same heading."""
        self.text = f"{self.text}{piece.glue}{piece.text}"
        self.last_page = piece.page if piece.page is not None else self.last_page


def _pieces(sections: Iterable[Section], limit: int) -> Iterator[_Piece]:
    """Lines of the sections (paragraphs, list items, table rows), long ones cut to at most `limit`."""
    for section in sections:
        for line in section.text.split("\n"):
            line = line.strip()
            if not line:
                continue
            parts = [line] if len(line) <= limit else _split_long(line, limit)
            for index, part in enumerate(parts):
                yield _Piece(text=part, page=section.page, glue="\n" if index == 0 else " ")


def _split_long(text: str, limit: int) -> list[str]:
    """Sentences of `text`, each further cut between words (or, failing that, anywhere) to fit `limit`."""
    parts: list[str] = []
    start = 0
    cuts = [match.end() for match in _SENTENCE_END.finditer(text)] + [len(text)]
    for end in cuts:
        sentence = text[start:end].strip()
        start = end
        if len(sentence) <= limit:
            parts.append(sentence)
        else:
            parts.extend(_split_words(sentence, limit))
    return [part for part in parts if part]


def _split_words(text: str, limit: int) -> list[str]:
    parts: list[str] = []
    current = ""
    for word in text.split():
        while len(word) > limit:  # a "word" longer than a chunk: a URL, a base64 blob, a table rule
            if current:
                parts.append(current)
                current = ""
            parts.append(word[:limit])
            word = word[limit:]
        if current and len(current) + 1 + len(word) > limit:
            parts.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        parts.append(current)
    return parts


def _pack(pieces: Iterable[_Piece], target_chars: int, overlap_chars: int) -> list[_Draft]:
    """Pieces packed greedily; chunks after the first keep room for the overlap they will start with."""
    drafts: list[_Draft] = []
    current: _Draft | None = None
    for piece in pieces:
        budget = target_chars if not drafts else target_chars - overlap_chars - 1
        if current is not None and len(current.text) + len(piece.glue) + len(piece.text) <= budget:
            current.add(piece)
            continue
        if current is not None:
            drafts.append(current)
        current = _Draft(text=piece.text, glue=piece.glue, first_page=piece.page, last_page=piece.page)
    if current is not None:
        drafts.append(current)
    return drafts


def _merge_small_tail(drafts: list[_Draft], min_chars: int) -> list[_Draft]:
    """A last piece shorter than `min_chars` joins the chunk before it rather than standing alone."""
    if len(drafts) >= 2 and len(drafts[-1].text) < min_chars:
        tail = drafts.pop()
        drafts[-1].add(_Piece(text=tail.text, page=tail.last_page, glue=tail.glue))
    return drafts


def _with_overlap(drafts: Sequence[_Draft], overlap_chars: int) -> Iterator[tuple[str, _Draft]]:
    previous = ""
    for draft in drafts:
        tail = _tail(previous, overlap_chars)
        text = f"{tail}{draft.glue}{draft.text}".strip() if tail else draft.text.strip()
        yield text, draft
        previous = text


def _tail(text: str, size: int) -> str:
    """The end of `text`, at most `size` characters, starting at a sentence (or else a word) boundary."""
    if size == 0 or not text:
        return ""
    if len(text) <= size:
        return text
    start = len(text) - size
    boundary = _BOUNDARY.search(text, start)
    # A sentence boundary close to the end would leave a useless scrap: then start at a word.
    if boundary is not None and len(text) - boundary.end() >= size // 3:
        return text[boundary.end() :].strip()
    space = _SPACE.search(text, start)
    return text[space.end() :].strip() if space is not None else text[start:].strip()


def _location(heading: str | None, first_page: int | None, last_page: int | None, position: int) -> str:
    """A short citation: "page 4", "pages 4–5, Eating out", "section 'Goals'" or "part 3"."""
    leaf = heading.split(HEADING_SEPARATOR)[-1] if heading else None
    if first_page is not None:
        pages = f"page {first_page}" if last_page in (None, first_page) else f"pages {first_page}–{last_page}"
        return f"{pages}, {leaf}" if leaf else pages
    return f"section '{leaf}'" if leaf else f"part {position + 1}"
