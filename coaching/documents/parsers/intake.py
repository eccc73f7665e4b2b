"""What every upload goes through: its name, size and kind are checked, then its format's parser runs.

Every refusal is a `DocumentRejected` whose reason can be shown to the user as is; anything a parser
library throws is turned into one (and logged for us) so no stack trace ever reaches a chat.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from pathlib import PurePosixPath

from coaching.documents.model import DocumentKind, DocumentRejected, ParsedDocument
from coaching.documents.parsers.docx import check_docx_archive, parse_docx
from coaching.documents.parsers.html import parse_html
from coaching.documents.parsers.kinds import EXTENSIONS, SUPPORTED_TYPES, megabytes, sniff
from coaching.documents.parsers.markdown import parse_markdown
from coaching.documents.parsers.pdf import parse_pdf
from coaching.documents.parsers.text import parse_text

log = logging.getLogger(__name__)


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
    actual = sniff(data)
    if kind == "docx" and actual == "zip":
        check_docx_archive(data)
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
        raise DocumentRejected(f"the file is {megabytes(size)} MB; the limit is {megabytes(max_bytes)} MB")


_PARSERS: dict[DocumentKind, Callable[[str, bytes], ParsedDocument]] = {
    "pdf": parse_pdf,
    "docx": parse_docx,
    "txt": parse_text,
    "md": parse_markdown,
    "html": parse_html,
}
