"""Uploaded files in, `ParsedDocument`s out: PDF, DOCX, plain text, Markdown and HTML, one module each.

`intake` checks a file's name, size and kind and runs its format's parser; `cleaning`, `sections` and
`encoding` are what the formats share.
"""

from coaching.documents.parsers.cleaning import clean_block, clean_line, list_item
from coaching.documents.parsers.encoding import decode_text
from coaching.documents.parsers.intake import detect_kind, parse_document
from coaching.documents.parsers.kinds import EXTENSIONS, SUPPORTED_TYPES

__all__ = [
    "EXTENSIONS",
    "SUPPORTED_TYPES",
    "clean_block",
    "clean_line",
    "decode_text",
    "detect_kind",
    "list_item",
    "parse_document",
]
