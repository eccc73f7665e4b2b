"""Which files are accepted: their extensions, what their bytes show them to be, and sizes in words."""

from __future__ import annotations

from coaching.documents.model import DocumentKind

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


def megabytes(size: int) -> str:
    """A size in megabytes as users read it: "2.5", or "10" rather than "10.0"."""
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")


def sniff(data: bytes) -> str:
    """What the bytes are: "pdf", "zip", "text" or "binary"."""
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "zip"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "text"  # UTF-16 with a byte order mark: NULs are expected there
    return "binary" if b"\x00" in data[:8192] else "text"
