"""PDF: text per page without running headers, footers and page numbers; bookmarks as headings."""

from __future__ import annotations

import io
import logging
import re
import statistics
import time
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import pypdf
from pypdf.errors import PdfReadError

from coaching.documents.model import DocumentRejected, ParsedDocument
from coaching.documents.parsers.cleaning import (
    HAS_WORD,
    clean_line,
    hyphenated_words,
    join_lines,
)
from coaching.documents.parsers.sections import SectionBuilder

log = logging.getLogger(__name__)


class _WithoutFontToolsAdvice(logging.Filter):
    """Drops pypdf's advice to install fontTools, which garbles rather than fixes some real PDFs."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the advice, True for everything else."""
        return not str(record.msg).startswith("fontTools is required")


# Installing fontTools turns the NIDDK booklet's text into gibberish (pypdf 6.x), so the advice, logged
# once per font on every upload, would only mislead whoever reads the logs.
logging.getLogger("pypdf._cmap").addFilter(_WithoutFontToolsAdvice())

# A PDF small enough to upload can still declare thousands of pages; reading stops at these limits.
MAX_PDF_PAGES = 2000
PDF_TIME_BUDGET_SECONDS = 60.0
MAX_OUTLINE_ENTRIES = 2000
MAX_OUTLINE_DEPTH = 8


def parse_pdf(filename: str, data: bytes) -> ParsedDocument:
    """A PDF with a text layer, page by page; refuses scanned, password-protected and oversized ones."""
    # pypdf warns about many harmless quirks of real PDFs; they are not the user's problem and the
    # test suite turns warnings into errors, so they are silenced here and only here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = _open_pdf(data)
        page_count = len(reader.pages)
        if page_count > MAX_PDF_PAGES:
            raise DocumentRejected(f"the PDF has {page_count} pages; the limit is {MAX_PDF_PAGES}")
        raw_pages = _pdf_page_texts(reader)
        title = _pdf_title(reader)
        outline = _pdf_outline(reader)
    pages = _clean_pdf_pages(raw_pages)
    empty = [number for number, lines in enumerate(pages, start=1) if not lines]
    if len(empty) == page_count:
        raise DocumentRejected("this PDF has no text layer (it looks scanned); upload a text PDF or a DOCX")
    notes = (_empty_pages_note(empty),) if empty else ()
    return _pdf_sections(pages, outline).document("pdf", filename, title, pages=page_count, warnings=notes)


def _open_pdf(data: bytes) -> pypdf.PdfReader:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise DocumentRejected("the PDF could not be read (it may be damaged)") from exc
    if reader.is_encrypted:
        # Many PDFs are encrypted only to restrict printing or copying; those open with no password.
        try:
            opened = reader.decrypt("") != pypdf.PasswordType.NOT_DECRYPTED
        except Exception:
            opened = False
        if not opened:
            raise DocumentRejected("the PDF is password-protected; remove the password and upload it again")
    return reader


def _pdf_page_texts(reader: pypdf.PdfReader) -> list[str]:
    deadline = time.monotonic() + PDF_TIME_BUDGET_SECONDS
    texts: list[str] = []
    for index, page in enumerate(reader.pages):
        if time.monotonic() > deadline:
            raise DocumentRejected("the PDF took too long to read; try splitting it into smaller files")
        try:
            texts.append(page.extract_text() or "")
        except DocumentRejected:
            raise
        except Exception:
            log.info("PDF page %d could not be read", index + 1, exc_info=True)
            texts.append("")
    return texts


def _pdf_title(reader: pypdf.PdfReader) -> str | None:
    try:
        metadata = reader.metadata
        title = clean_line(str(metadata.title)) if metadata and metadata.title else ""
    except Exception:
        return None
    title = title.removeprefix("Microsoft Word - ")
    # Producers often store the source file name or "untitled" as the title.
    if not title or title.lower() in {"untitled", "title"} or re.search(r"\.\w{2,4}$", title):
        return None
    return title


def _pdf_outline(reader: pypdf.PdfReader) -> list[tuple[int, int, str]]:
    """The bookmarks as (0-based page, level, title), in reading order; [] when absent or unreadable."""
    entries: list[tuple[int, int, str]] = []

    def walk(items: Sequence[Any], level: int) -> None:
        for item in items:
            if len(entries) >= MAX_OUTLINE_ENTRIES:
                return
            if isinstance(item, list):
                if level < MAX_OUTLINE_DEPTH:
                    walk(item, level + 1)
                continue
            page = reader.get_destination_page_number(item)
            title = clean_line(str(item.title or ""))
            if page is not None and page >= 0 and title:
                entries.append((page, level, title))

    try:
        walk(reader.outline, 1)
    except Exception:
        log.info("PDF outline could not be read", exc_info=True)
        return []
    return sorted(entries, key=lambda entry: entry[0])  # stable: same-page entries keep their order


# Marks of PDF text: form-fill lines, table-of-contents leaders, bullets and numbers, page numbers.
_UNDERSCORES = re.compile(r"_{4,}")
_DOT_LEADER = re.compile(r"(?:\s?\.){4,}")
_BULLET = re.compile(r"^[●•▪◦■□➢►✓✔·‣⁃o*-]\s+|^[●•▪◦■□➢►✓✔·‣⁃]")
_NUMBERED = re.compile(r"^(?:\d{1,3}|[a-z])[.)]\s")
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE)
# "Y ou", "T alk": pypdf splits a kerned capital from the rest of its word. None of these capitals is
# an English word on its own, so a capital followed by a lowercase run is rejoined.
_KERNED_CAPITAL = re.compile(r"\b([TVWYFP]) (?=[a-z])")
_SOFT_HYPHEN_BREAK = re.compile(r"\xad[ \t]*\n[ \t]*")


def _clean_pdf_pages(raw_pages: Sequence[str]) -> list[list[str]]:
    """Each page's text as cleaned lines, without page numbers and running headers or footers."""
    pages = [_clean_pdf_lines(text) for text in raw_pages]
    repeated = _running_lines(pages)
    return [_drop_running(lines, repeated) for lines in pages]


def _clean_pdf_lines(text: str) -> list[str]:
    # NFKC turns ligatures ("ﬁ") and other presentation forms PDFs are full of into plain letters.
    text = unicodedata.normalize("NFKC", _SOFT_HYPHEN_BREAK.sub("", text)).replace("\xad", "")
    lines: list[str] = []
    for raw in text.split("\n"):
        line = _KERNED_CAPITAL.sub(r"\1", clean_line(raw))
        line = _DOT_LEADER.sub(" … ", _UNDERSCORES.sub("___", line)).strip()
        if line and HAS_WORD.search(line.replace("_", "")) and not _PAGE_NUMBER.match(line):
            lines.append(_BULLET.sub("• ", line))
    return lines


def _running_key(line: str) -> str:
    return re.sub(r"\d+", "#", line.lower())


def _running_lines(pages: Sequence[list[str]]) -> set[str]:
    """Lines that open or close at least half the pages (and three or more): running headers and footers."""
    with_text = [lines for lines in pages if lines]
    counts: Counter[str] = Counter()
    for lines in with_text:
        counts.update({_running_key(line) for line in lines[:2] + lines[-2:]})
    threshold = max(3, len(with_text) / 2)
    return {key for key, count in counts.items() if count >= threshold}


def _drop_running(lines: list[str], repeated: set[str]) -> list[str]:
    if not repeated:
        return lines
    edge = {*range(2), *range(len(lines) - 2, len(lines))}
    return [
        line for index, line in enumerate(lines) if index not in edge or _running_key(line) not in repeated
    ]


def _empty_pages_note(pages: Sequence[int]) -> str:
    shown = ", ".join(str(page) for page in pages[:15])
    if len(pages) > 15:
        shown += f" and {len(pages) - 15} more"
    if len(pages) == 1:
        return f"page {shown} has no text layer (a scanned image?) and was skipped"
    return f"pages {shown} have no text layer (scanned images?) and were skipped"


def _pdf_sections(pages: Sequence[list[str]], outline: Sequence[tuple[int, int, str]]) -> SectionBuilder:
    """Sections per page and bookmark: a bookmark's title starts its heading where it is printed."""
    hyphenated = hyphenated_words(line for lines in pages for line in lines)
    sections = SectionBuilder()
    starts: dict[int, list[tuple[int, str]]] = {}
    for page_index, level, title in outline:
        starts.setdefault(page_index, []).append((level, title))
    for page_index, lines in enumerate(pages):
        cursor = 0
        for level, title in starts.get(page_index, []):
            found = _find_title(lines, cursor, title)
            if found is not None:
                _add_pdf_text(sections, lines[cursor : found[0]], page_index + 1, hyphenated)
                cursor = found[1]
            sections.heading(level, title)
        _add_pdf_text(sections, lines[cursor:], page_index + 1, hyphenated)
    return sections


def _normal_title(text: str) -> str:
    return clean_line(text.replace("’", "'").replace("‘", "'")).lower()


def _find_title(lines: Sequence[str], start: int, title: str) -> tuple[int, int] | None:
    """(first line, line after) of `title` printed on up to three lines from `start`, if present."""
    wanted = _normal_title(title)
    for first in range(start, len(lines)):
        seen = ""
        for last in range(first, min(first + 3, len(lines))):
            seen = f"{seen} {_normal_title(lines[last])}".strip()
            if seen == wanted:
                return first, last + 1
            if not wanted.startswith(seen):
                break
    return None


def _add_pdf_text(sections: SectionBuilder, lines: Sequence[str], page: int, hyphenated: set[str]) -> None:
    if lines:
        paragraphs = [join_lines(group, hyphenated) for group in _pdf_paragraphs(lines)]
        sections.block("\n".join(paragraphs), page)


def _pdf_paragraphs(lines: Sequence[str]) -> Iterator[list[str]]:
    """Groups of lines that read as one paragraph or list item.

    PDFs have no paragraphs, only positioned lines: a new one starts at a bullet or number, or after a
    line that stops well short of the page's usual line length and ends a sentence (or a list item,
    when the next line starts with a capital).
    """
    usual = statistics.median(len(line) for line in lines)
    group: list[str] = []
    for line in lines:
        item = line.startswith("• ") or _NUMBERED.match(line) is not None
        previous = group[-1] if group else ""
        stops_short = len(previous) < 0.8 * usual
        ends_sentence = previous.endswith((".", "!", "?", ":"))
        ends_item = group[:1] != [] and group[0].startswith("• ") and line[:1].isupper()
        if group and (item or (stops_short and (ends_sentence or ends_item))):
            yield group
            group = []
        group.append(line)
    if group:
        yield group
