"""Remembering the parts of a long message Twilio already accepted, so a retry sends only the rest."""

from __future__ import annotations

import time

# How long an unfinished multi-part send remembers the parts already accepted.
PARTS_MEMORY_SECONDS = 3600.0


class PartsSent:
    """Which parts of a multi-part message Twilio already accepted, so a retry sends only the rest.

    Kept in memory: a retry that lands on another instance, or after a restart, sends those parts
    again (at most the parts of one message, once).
    """

    def __init__(self) -> None:
        self._sent: dict[tuple[str, tuple[str, ...]], tuple[int, str, float]] = {}

    def get(self, key: tuple[str, tuple[str, ...]]) -> tuple[int, str | None]:
        """How many parts of (recipient, parts) went out, and the SID of the last."""
        count, sid, _ = self._sent.get(key, (0, "", 0.0))
        return count, sid or None

    def record(self, key: tuple[str, tuple[str, ...]], count: int, sid: str) -> None:
        """`count` parts went out, the last as `sid`."""
        now = time.monotonic()
        self._sent[key] = (count, sid, now)
        for stale in [k for k, (_, _, at) in self._sent.items() if now - at > PARTS_MEMORY_SECONDS]:
            del self._sent[stale]

    def forget(self, key: tuple[str, tuple[str, ...]]) -> None:
        """The message went out whole."""
        self._sent.pop(key, None)
