"""Uploaded files in, `ParsedDocument`s out: PDF, DOCX, plain text, Markdown and HTML.

Every refusal is a `DocumentRejected` whose reason can be shown to the user as is; anything a parser
library throws is turned into one (and logged for us) so no stack trace ever reaches a chat.
"""

from __future__ import annotations

import io
import logging
import re
import statistics
import time
import unicodedata
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, ClassVar

import docx
import pypdf
from bs4 import BeautifulSoup, Tag
from bs4.element import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction
from docx.table import Table
from docx.text.paragraph import Paragraph
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pypdf.errors import PdfReadError

from coaching.documents.model import (
    HEADING_SEPARATOR,
    DocumentKind,
    DocumentRejected,
    ParsedDocument,
    Section,
)

log = logging.getLogger(__name__)


class _WithoutFontToolsAdvice(logging.Filter):
    """Drops pypdf's advice to install fontTools, which garbles rather than fixes some real PDFs."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the advice, True for everything else."""
        return not str(record.msg).startswith("fontTools is required")


# Installing fontTools turns the NIDDK booklet's text into gibberish (pypdf 6.x), so the advice, logged
# once per font on every upload, would only mislead whoever reads the logs.
logging.getLogger("pypdf._cmap").addFilter(_WithoutFontToolsAdvice())

SUPPORTED_TYPES = "upload PDF, DOCX, TXT, Markdown or HTML"
EXTENSIONS: dict[str, DocumentKind] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
}

# DOCX is a zip: refuse archives that would inflate far beyond their size before any XML is read.
MAX_UNZIPPED_BYTES = 100 * 1024 * 1024
MAX_ZIP_RATIO = 100
MAX_ZIP_ENTRIES = 2000
# A PDF small enough to upload can still declare thousands of pages; reading stops at these limits.
MAX_PDF_PAGES = 2000
PDF_TIME_BUDGET_SECONDS = 60.0
MAX_OUTLINE_ENTRIES = 2000
MAX_OUTLINE_DEPTH = 8
# Deeper HTML/list nesting than this is read as flat text instead of recursed into.
MAX_NESTING = 100
# Building BeautifulSoup's tree costs ~20 µs per element: this bounds an HTML parse to a few seconds.
MAX_HTML_ELEMENTS = 200_000
MAX_FILENAME_CHARS = 255

_UNREADABLE: dict[DocumentKind, str] = {
    "pdf": "the PDF could not be read (it may be damaged)",
    "docx": "the DOCX file could not be read (it may be damaged)",
    "txt": "the text file could not be read",
    "md": "the Markdown file could not be read",
    "html": "the HTML file could not be read",
}


def parse_document(filename: str, data: bytes, *, max_bytes: int) -> ParsedDocument:
    """Parse an uploaded file, or raise `DocumentRejected` saying why it cannot be used."""
    _check_filename(filename)
    _check_size(len(data), max_bytes)
    kind = detect_kind(filename, data)
    parser = _PARSERS[kind]
    try:
        document = parser(filename, data)
    except DocumentRejected:
        raise
    except Exception as exc:
        # Parser libraries raise anything on hostile input; the user gets a sentence, we get the trace.
        log.warning("could not parse %r as %s", filename, kind, exc_info=True)
        raise DocumentRejected(_UNREADABLE[kind]) from exc
    if not document.sections:
        raise DocumentRejected("the file has no text")
    return document


def detect_kind(filename: str, data: bytes) -> DocumentKind:
    """The document type, from the extension confirmed by the content; rejects mismatches."""
    suffix = PurePosixPath(filename).suffix.lower()
    kind = EXTENSIONS.get(suffix)
    if kind is None:
        shown = f"'{suffix}' files are" if suffix else "files without an extension are"
        raise DocumentRejected(f"{shown} not supported; {SUPPORTED_TYPES}")
    if not data:
        raise DocumentRejected("the file has no text")
    actual = _sniff(data)
    if kind == "docx" and actual == "zip":
        _check_docx_archive(data)
        return kind
    if actual == kind or (actual == "text" and kind in ("txt", "md", "html")):
        return kind
    found = {"pdf": "a PDF", "zip": "a ZIP archive (such as DOCX)", "binary": "binary data"}.get(
        actual, actual
    )
    raise DocumentRejected(f"the file is named '{suffix}' but contains {found}; {SUPPORTED_TYPES}")


def _check_filename(filename: str) -> None:
    if not filename.strip():
        raise DocumentRejected("the file needs a name with an extension (such as notes.pdf)")
    if any(mark in filename for mark in ("/", "\\", "\x00")) or ".." in filename:
        raise DocumentRejected("file names may not contain path separators")
    if len(filename) > MAX_FILENAME_CHARS or any(unicodedata.category(char) == "Cc" for char in filename):
        raise DocumentRejected("the file name is too long or contains control characters")


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise DocumentRejected(f"the file is {_megabytes(size)} MB; the limit is {_megabytes(max_bytes)} MB")


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")


def _sniff(data: bytes) -> str:
    """What the bytes are: "pdf", "zip", "text" or "binary"."""
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "zip"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "text"  # UTF-16 with a byte order mark: NULs are expected there
    return "binary" if b"\x00" in data[:8192] else "text"


def _check_docx_archive(data: bytes) -> None:
    """Refuse zip bombs by the sizes the central directory declares, before anything is inflated.

    zipfile never returns more than an entry's declared size (it fails the CRC instead), so checking
    the declarations bounds what python-docx can later unpack.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise DocumentRejected("the DOCX file could not be read (it may be damaged)") from exc
    if not any(entry.filename == "word/document.xml" for entry in entries):
        raise DocumentRejected(f"the file is named '.docx' but is not a Word document; {SUPPORTED_TYPES}")
    unpacked = sum(entry.file_size for entry in entries)
    if _inflates_too_much(len(entries), unpacked, len(data)):
        raise DocumentRejected(
            f"the DOCX file would unpack to {_megabytes(unpacked)} MB, which looks like a zip bomb; "
            "save it again from your word processor or upload it as PDF"
        )


def _inflates_too_much(entries: int, unpacked: int, packed: int) -> bool:
    return entries > MAX_ZIP_ENTRIES or unpacked > MAX_UNZIPPED_BYTES or unpacked > MAX_ZIP_RATIO * packed


# --- text clean-up ------------------------------------------------------------------------------

_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACES = re.compile(r"[^\S\n]+")
_UNDERSCORES = re.compile(r"_{4,}")
_DOT_LEADER = re.compile(r"(?:\s?\.){4,}")
_BULLET = re.compile(r"^[●•▪◦■□➢►✓✔·‣⁃o*-]\s+|^[●•▪◦■□➢►✓✔·‣⁃]")
_NUMBERED = re.compile(r"^(?:\d{1,3}|[a-z])[.)]\s")
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE)
_HAS_WORD = re.compile(r"\w")


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


def _join_lines(lines: Sequence[str], hyphenated: set[str]) -> str:
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


def _hyphenated_words(texts: Iterable[str]) -> set[str]:
    return {match.lower() for text in texts for match in _HYPHENATED_WORD.findall(text.lower())}


# --- shared structure ---------------------------------------------------------------------------


@dataclass
class _Outline:
    """The heading path at the current point of a document."""

    _stack: list[tuple[int, str]] = field(default_factory=list)

    def enter(self, level: int, title: str) -> None:
        """A heading of `level` (1 = top) starts; deeper and equal headings end."""
        title = clean_line(title)
        if not title:
            return
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))

    @property
    def path(self) -> str | None:
        """The headings from the top down, or None before the first heading."""
        return HEADING_SEPARATOR.join(title for _, title in self._stack) or None

    @property
    def first(self) -> str | None:
        """The outermost heading of the current path, if any."""
        return self._stack[0][1] if self._stack else None


@dataclass
class _Sections:
    """Collects cleaned, non-empty sections under the current heading."""

    outline: _Outline = field(default_factory=_Outline)
    items: list[Section] = field(default_factory=list)
    first_heading: str | None = None

    def heading(self, level: int, title: str) -> None:
        """Enter a heading; the first one is remembered as a fallback title."""
        self.outline.enter(level, title)
        if self.first_heading is None:
            self.first_heading = self.outline.first

    def paragraph(self, text: str, page: int | None = None) -> None:
        """Add a paragraph; its lines are joined."""
        self._add(clean_line(text.replace("\n", " ")), page)

    def block(self, text: str, page: int | None = None) -> None:
        """Add a list, table or code block; its lines are kept."""
        self._add(clean_block(text), page)

    def _add(self, text: str, page: int | None) -> None:
        if _HAS_WORD.search(text):
            self.items.append(Section(text=text, heading=self.outline.path, page=page))


def _title_from_filename(filename: str) -> str:
    stem = PurePosixPath(filename).stem
    return clean_line(stem.replace("_", " ").replace("-", " ")) or filename


# --- PDF ----------------------------------------------------------------------------------------


def _parse_pdf(filename: str, data: bytes) -> ParsedDocument:
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
    sections = _pdf_sections(pages, outline)
    notes = (_empty_pages_note(empty),) if empty else ()
    return ParsedDocument(
        title=title or _title_from_filename(filename),
        kind="pdf",
        sections=tuple(sections),
        pages=page_count,
        warnings=notes,
    )


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
        if line and _HAS_WORD.search(line.replace("_", "")) and not _PAGE_NUMBER.match(line):
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


def _pdf_sections(pages: Sequence[list[str]], outline: Sequence[tuple[int, int, str]]) -> list[Section]:
    """Sections per page and bookmark: a bookmark's title starts its heading where it is printed."""
    hyphenated = _hyphenated_words(line for lines in pages for line in lines)
    sections = _Sections()
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
    return sections.items


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


def _add_pdf_text(sections: _Sections, lines: Sequence[str], page: int, hyphenated: set[str]) -> None:
    if lines:
        paragraphs = [_join_lines(group, hyphenated) for group in _pdf_paragraphs(lines)]
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


# --- DOCX ---------------------------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _parse_docx(filename: str, data: bytes) -> ParsedDocument:
    document = docx.Document(io.BytesIO(data))
    sections = _Sections()
    title: str | None = clean_line(document.core_properties.title or "") or None
    pending_list: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph) and _docx_list_level(block) is not None:
            if block.text.strip():
                pending_list.append(_docx_list_item(block))
            continue
        if pending_list:
            sections.block("\n".join(pending_list))
            pending_list = []
        if isinstance(block, Table):
            sections.block(_docx_table(block))
        else:
            title = _docx_paragraph(sections, block, title)
    if pending_list:
        sections.block("\n".join(pending_list))
    return ParsedDocument(
        title=title or sections.first_heading or _title_from_filename(filename),
        kind="docx",
        sections=tuple(sections.items),
        pages=None,
        warnings=(),
    )


def _docx_paragraph(sections: _Sections, paragraph: Paragraph, title: str | None) -> str | None:
    """Add a paragraph or heading; returns the document title, set by the first Title paragraph."""
    style = _style_names(paragraph)
    if "title" in style:
        if title is None:
            return clean_line(paragraph.text) or None
        sections.paragraph(paragraph.text)
        return title
    level = _heading_level(style)
    if level is not None:
        sections.heading(level, paragraph.text)
    else:
        sections.paragraph(paragraph.text)
    return title


def _style_names(paragraph: Paragraph) -> list[str]:
    """The paragraph style and the styles it is based on, lowercased: custom headings inherit."""
    names: list[str] = []
    style = paragraph.style
    while style is not None and len(names) < 10:
        names.append((style.name or "").lower())
        style = style.base_style
    return names


def _heading_level(style_names: Sequence[str]) -> int | None:
    for name in style_names:
        match = _HEADING_STYLE.match(name)
        if match:
            return max(1, int(match.group(1)))
    return None


def _docx_list_level(paragraph: Paragraph) -> int | None:
    """The nesting level of a list item (0 = top), or None for other paragraphs."""
    element = paragraph._p
    if element.xpath("./w:pPr/w:numPr"):
        levels = element.xpath("./w:pPr/w:numPr/w:ilvl/@w:val")
        return int(levels[0]) if levels and str(levels[0]).isdigit() else 0
    names = _style_names(paragraph)
    return 0 if names and names[0].startswith("list") else None


def _docx_list_item(paragraph: Paragraph) -> str:
    return list_item(paragraph.text, _docx_list_level(paragraph) or 0, None)


def _docx_table(table: Table) -> str:
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            # A merged cell is returned once per grid column it spans.
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(clean_line(" ".join(paragraph.text for paragraph in cell.paragraphs)))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


# --- plain text ---------------------------------------------------------------------------------

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


def decode_text(data: bytes) -> str:
    """Bytes as text: UTF-8 (with or without BOM) or UTF-16 with BOM, else Windows-1252, else Latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    else:
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            text = data.decode("latin-1")  # maps every byte, so it cannot fail
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def _parse_txt(filename: str, data: bytes) -> ParsedDocument:
    text = decode_text(data)
    gutenberg_title, text = _strip_gutenberg(text)
    blocks = [block for block in _BLANK_LINES.split(text) if block.strip()]
    hyphenated = _hyphenated_words(blocks)
    sections = _Sections()
    for index, block in enumerate(blocks):
        lines = [line for line in map(clean_line, _EMPHASIS.sub(r"\1", block).split("\n")) if line]
        if len(lines) == 1 and _looks_like_heading(lines[0]) and index + 1 < len(blocks):
            sections.heading(1, lines[0])
        else:
            sections.paragraph(_join_lines(lines, hyphenated))
    first = blocks[0].strip().split("\n") if blocks else []
    title = gutenberg_title or (
        clean_line(first[0]) if len(first) == 1 and _looks_like_heading(first[0]) else None
    )
    return ParsedDocument(
        title=title or _title_from_filename(filename),
        kind="txt",
        sections=tuple(sections.items),
        pages=None,
        warnings=(),
    )


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


# --- Markdown -----------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
_FRONT_MATTER_TITLE = re.compile(r"^title:\s*[\"']?(.+?)[\"']?\s*$", re.MULTILINE)


def _parse_markdown(filename: str, data: bytes) -> ParsedDocument:
    text = decode_text(data)
    title: str | None = None
    front = _FRONT_MATTER.match(text)
    if front:
        found = _FRONT_MATTER_TITLE.search(front.group(1))
        title = clean_line(found.group(1)) if found else None
        text = text[front.end() :]
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    sections = _Sections()
    _MarkdownReader(sections).read(tokens)
    return ParsedDocument(
        title=title or sections.first_heading or _title_from_filename(filename),
        kind="md",
        sections=tuple(sections.items),
        pages=None,
        warnings=(),
    )


@dataclass
class _MarkdownReader:
    """Walks markdown-it's flat token stream, keeping lists and tables together as blocks."""

    sections: _Sections
    _list_lines: list[str] = field(default_factory=list)
    _list_numbers: list[int | None] = field(default_factory=list)
    _table_rows: list[str] = field(default_factory=list)
    _row: list[str] = field(default_factory=list)
    _item_open: bool = False
    _in_table: bool = False

    def read(self, tokens: Sequence[Token]) -> None:
        """Add every heading, paragraph, list, table and code block of `tokens`."""
        for index, token in enumerate(tokens):
            handler = self._HANDLERS.get(token.type)
            if handler is not None:
                handler(self, token, tokens, index)

    def _heading(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        self.sections.heading(int(token.tag[1:]), _inline_text(tokens[index + 1]))

    def _inline(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        previous = tokens[index - 1].type if index else ""
        text = _inline_text(token)
        if self._in_table:
            self._row.append(clean_line(text))
        elif previous == "heading_open":
            return
        elif self._list_numbers:
            self._list_text(text)
        else:
            self.sections.paragraph(text)

    def _list_text(self, text: str) -> None:
        if self._item_open:
            depth = len(self._list_numbers) - 1
            number = self._list_numbers[-1]
            self._list_lines.append(list_item(text, depth, number))
            self._item_open = False
        elif self._list_lines:
            self._list_lines[-1] += f" {clean_line(text)}"

    def _list_open(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        start = token.attrGet("start")
        self._list_numbers.append(
            (int(start) if isinstance(start, int | str) else 1) if token.tag == "ol" else None
        )

    def _list_close(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        self._list_numbers.pop()
        if not self._list_numbers:
            self.sections.block("\n".join(self._list_lines))
            self._list_lines = []

    def _item_start(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        self._item_open = True

    def _item_end(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        number = self._list_numbers[-1]
        if number is not None:
            self._list_numbers[-1] = number + 1
        self._item_open = False

    def _code(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        if self._list_numbers:
            self._list_text(token.content)
        else:
            self.sections.block(token.content)

    def _html(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        self.sections.paragraph(_html_fragment_text(token.content))

    def _table_open(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        self._in_table = True

    def _table_close(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        self._in_table = False
        self.sections.block("\n".join(self._table_rows))
        self._table_rows = []

    def _row_close(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        if any(self._row):
            self._table_rows.append(" | ".join(self._row))
        self._row = []

    _HANDLERS: ClassVar[dict[str, Callable[[_MarkdownReader, Token, Sequence[Token], int], None]]] = {
        "heading_open": _heading,
        "inline": _inline,
        "bullet_list_open": _list_open,
        "ordered_list_open": _list_open,
        "bullet_list_close": _list_close,
        "ordered_list_close": _list_close,
        "list_item_open": _item_start,
        "list_item_close": _item_end,
        "fence": _code,
        "code_block": _code,
        "html_block": _html,
        "table_open": _table_open,
        "table_close": _table_close,
        "tr_close": _row_close,
    }


def _inline_text(token: Token) -> str:
    """The plain text of an inline token: emphasis and link markup dropped, image alt text kept."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "image"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "html_inline":
            continue
    return "".join(parts)


def _html_fragment_text(html: str) -> str:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(list(_DROPPED_TAGS)):
        tag.decompose()
    return soup.get_text(" ")


# --- HTML ---------------------------------------------------------------------------------------

# Scripts, styles and site chrome are not the coach's content.
_DROPPED_TAGS = frozenset(
    {"script", "style", "nav", "noscript", "template", "svg", "iframe", "object", "embed", "canvas", "head"}
    | {"footer", "button", "select", "textarea"}
)
_HEADING_TAGS = {f"h{level}": level for level in range(1, 7)}
_BLOCK_TAGS = frozenset(
    {"p", "div", "section", "article", "main", "header", "aside", "blockquote", "figure", "figcaption"}
    | {
        "address",
        "details",
        "summary",
        "dl",
        "dt",
        "dd",
        "li",
        "hr",
        "br",
        "body",
        "html",
        "form",
        "fieldset",
    }
    | {"center", "caption", "legend", "td", "th", "tr", "tbody", "thead", "tfoot"}
)
_SKIPPED_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction)


def _parse_html(filename: str, data: bytes) -> ParsedDocument:
    if data.count(b"<") > MAX_HTML_ELEMENTS:
        raise DocumentRejected(
            f"the HTML page has more than {MAX_HTML_ELEMENTS:,} elements; save it as PDF or plain text instead"
        )
    soup = BeautifulSoup(decode_text(data), "html.parser")
    title_tag = soup.find("title")
    title = clean_line(title_tag.get_text(" ")) if isinstance(title_tag, Tag) else ""
    for tag in soup.find_all(list(_DROPPED_TAGS)):
        tag.decompose()
    sections = _Sections()
    _HtmlReader(sections).read(soup)
    return ParsedDocument(
        title=title or sections.first_heading or _title_from_filename(filename),
        kind="html",
        sections=tuple(sections.items),
        pages=None,
        warnings=(),
    )


@dataclass
class _HtmlReader:
    """Walks the tree: inline text gathers into paragraphs, block elements end them."""

    sections: _Sections
    _inline: list[str] = field(default_factory=list)

    def read(self, root: Tag) -> None:
        """Add every heading, paragraph, list and table under `root`."""
        self._walk(root, 0)
        self._flush()

    def _walk(self, node: Tag, depth: int) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _SKIPPED_STRINGS):
                    self._inline.append(str(child))
            elif isinstance(child, Tag):
                self._element(child, depth + 1)

    def _element(self, tag: Tag, depth: int) -> None:
        name = tag.name.lower()
        if depth > MAX_NESTING:
            self._inline.append(tag.get_text(" "))
        elif name in _HEADING_TAGS:
            self._flush()
            self.sections.heading(_HEADING_TAGS[name], tag.get_text(" "))
        elif name in ("ul", "ol"):
            self._flush()
            self.sections.block("\n".join(_html_list(tag, 0)))
        elif name == "table":
            self._flush()
            self.sections.block(_html_table(tag))
        elif name == "pre":
            self._flush()
            self.sections.block(tag.get_text())
        elif name in _BLOCK_TAGS:
            self._flush()
            self._walk(tag, depth)
            self._flush()
        else:
            self._walk(tag, depth)

    def _flush(self) -> None:
        if self._inline:
            self.sections.paragraph("".join(self._inline))
            self._inline = []


def _html_list(tag: Tag, depth: int) -> list[str]:
    numbered = tag.name.lower() == "ol"
    lines: list[str] = []
    for number, item in enumerate(tag.find_all("li", recursive=False), start=1):
        if not isinstance(item, Tag):
            continue
        own: list[str] = []
        nested: list[Tag] = []
        for child in item.children:
            if isinstance(child, Tag) and child.name in ("ul", "ol"):
                nested.append(child)
            elif isinstance(child, Tag):
                own.append(child.get_text())
            elif isinstance(child, NavigableString) and not isinstance(child, _SKIPPED_STRINGS):
                own.append(str(child))
        lines.append(list_item("".join(own), depth, number if numbered else None))
        if depth < MAX_NESTING:
            for child in nested:
                lines.extend(_html_list(child, depth + 1))
    return lines


def _html_table(table: Tag) -> str:
    rows: list[str] = []
    for row in table.find_all("tr"):
        if isinstance(row, Tag):
            cells = [clean_line(cell.get_text(" ")) for cell in row.find_all(["td", "th"], recursive=False)]
            if any(cells):
                rows.append(" | ".join(cells))
    return "\n".join(rows)


_PARSERS: dict[DocumentKind, Callable[[str, bytes], ParsedDocument]] = {
    "pdf": _parse_pdf,
    "docx": _parse_docx,
    "txt": _parse_txt,
    "md": _parse_markdown,
    "html": _parse_html,
}
