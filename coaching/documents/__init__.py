"""Creators' documents: parsing uploads into text with structure, and chunking them for retrieval."""

from coaching.documents.chunking import chunk_document
from coaching.documents.hashing import content_hash
from coaching.documents.model import Chunk, DocumentKind, DocumentRejected, ParsedDocument, Section
from coaching.documents.parsers import SUPPORTED_TYPES, parse_document

__all__ = [
    "SUPPORTED_TYPES",
    "Chunk",
    "DocumentKind",
    "DocumentRejected",
    "ParsedDocument",
    "Section",
    "chunk_document",
    "content_hash",
    "parse_document",
]
