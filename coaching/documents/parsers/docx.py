"""Word documents (DOCX): headings by style, lists, tables; zip bombs refused before anything is inflated."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from coaching.documents.model import DocumentRejected, ParsedDocument
from coaching.documents.parsers.cleaning import clean_line, list_item
from coaching.documents.parsers.kinds import SUPPORTED_TYPES, megabytes
from coaching.documents.parsers.sections import SectionBuilder

# DOCX is a zip: refuse archives that would inflate far beyond their size before any XML is read.
MAX_UNZIPPED_BYTES = 100 * 1024 * 1024
MAX_ZIP_RATIO = 100
MAX_ZIP_ENTRIES = 2000


def check_docx_archive(data: bytes) -> None:
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
            f"the DOCX file would unpack to {megabytes(unpacked)} MB, which looks like a zip bomb; "
            "save it again from your word processor or upload it as PDF"
        )


def _inflates_too_much(entries: int, unpacked: int, packed: int) -> bool:
    return entries > MAX_ZIP_ENTRIES or unpacked > MAX_UNZIPPED_BYTES or unpacked > MAX_ZIP_RATIO * packed


_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def parse_docx(filename: str, data: bytes) -> ParsedDocument:
    """A Word document: Title and Heading styles (and styles based on them), lists, tables, paragraphs."""
    document = docx.Document(io.BytesIO(data))
    sections = SectionBuilder()
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
    return sections.document("docx", filename, title or sections.first_heading)


def _docx_paragraph(sections: SectionBuilder, paragraph: Paragraph, title: str | None) -> str | None:
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
