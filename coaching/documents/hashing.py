"""Recognising re-uploads of the same file."""

from __future__ import annotations

import hashlib


def content_hash(data: bytes) -> str:
    """The SHA-256 of a file's bytes, as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()
