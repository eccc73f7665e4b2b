"""Documents the tests write themselves: a PDF with a text layer, a DOCX, a long plain text.

They stand in for the real documents of `../shared/fixtures/docs/` wherever a test needs *a* document
of a kind rather than that particular one, so a clone of the project covers every format.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

from docx import Document

GUIDE_TITLE = "Eating well with a busy week"
GUIDE_PAGES: tuple[tuple[str, str], ...] = (
    (
        "Plan your plate",
        "Fill half of your plate with vegetables such as broccoli, carrots and salad greens. "
        "Fill one quarter with a lean protein such as fish, chicken or beans. "
        "Fill the last quarter with a whole grain such as brown rice or whole wheat bread. "
        "Drink water instead of sweetened drinks with your meal.",
    ),
    (
        "Move every day",
        "Aim for at least 30 minutes of brisk walking on five days of the week. "
        "If thirty minutes feels like too much, start with ten minutes after each meal. "
        "Walking after dinner helps your body use the sugar from the meal.",
    ),
    (
        "Sleep and stress",
        "Most adults need seven to nine hours of sleep every night. "
        "Go to bed at the same time each evening and keep screens out of the bedroom. "
        "When you feel stressed, take five slow breaths before you reach for a snack.",
    ),
)


def _pdf_text(text: str) -> str:
    """A PDF literal string: backslashes and parentheses escaped."""
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: Sequence[Sequence[str]]) -> bytes:
    """A valid PDF with one Helvetica text line per string; a page with no lines has no text at all.

    Written by hand (objects, content streams, an exact xref table): the project depends on pypdf,
    which reads text PDFs but does not lay text out.
    """
    page_ids = [4 + 2 * index for index in range(len(pages))]
    kids = " ".join(f"{page_id} 0 R" for page_id in page_ids)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for page_id, lines in zip(page_ids, pages, strict=True):
        shown = " ".join(f"({_pdf_text(line)}) Tj T*" for line in lines)
        content = f"BT /F1 12 Tf 14 TL 72 720 Td {shown} ET".encode("cp1252")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {page_id + 1} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def text_pdf(pages: tuple[tuple[str, str], ...] = GUIDE_PAGES, *, title: str = GUIDE_TITLE) -> bytes:
    """The guide as a PDF: one page per (heading, body), the body wrapped at 80 characters."""
    return make_pdf(
        [
            [f"{title} - page {number}", heading, *textwrap.wrap(body, 80)]
            for number, (heading, body) in enumerate(pages, 1)
        ]
    )


def guide_docx(pages: tuple[tuple[str, str], ...] = GUIDE_PAGES, *, title: str = GUIDE_TITLE) -> bytes:
    """A DOCX written with python-docx: a title, then a heading and a paragraph per section."""
    document = Document()
    document.add_heading(title, level=0)
    for heading, body in pages:
        document.add_heading(heading, level=1)
        document.add_paragraph(body)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def long_text(min_bytes: int = 64_000) -> bytes:
    """Plain prose of at least `min_bytes` bytes (the guide's paragraphs, repeated and numbered)."""
    parts: list[str] = []
    size = 0
    round_ = 0
    while size < min_bytes:
        round_ += 1
        for heading, body in GUIDE_PAGES:
            part = f"{heading} ({round_})\n\n{body}\n\n"
            parts.append(part)
            size += len(part.encode())
    return "".join(parts).encode()
