"""Secrets the service makes for itself: API keys, and keys kept in the data dir (claim codes are in
`bot.claim_codes`)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path


def new_api_key(prefix: str = "cl") -> str:
    """A fresh high-entropy API key."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_secret(value: str) -> str:
    """The stored form of a key: SHA-256 suffices because keys are random, not passwords."""
    return hashlib.sha256(value.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Compare in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())


def load_or_create_secret(path: Path, *, prefix: str = "cl") -> tuple[str, bool]:
    """Read a secret kept in a file, creating it (mode 0600) when missing. Returns (secret, created)."""
    if path.exists():
        return path.read_text().strip(), False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = new_api_key(prefix)
    # O_EXCL: when two instances start together, one creates it and the other reads it.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip(), False
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value, True
