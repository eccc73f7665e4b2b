"""Sending the start of a slow answer before its end: complete paragraphs go out as the model writes.

A fast answer (everything within `first_after` seconds, as the offline generator always is) stays
one message. A slow one (a model streaming tokens) sends each finished paragraph as soon as the one
after it has begun, or a run of finished sentences once they pass `long_chars`. The rest, with the
sources, goes in the final message. Text is only ever cut where something follows, so the final
message is never empty.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=\S)")


class ReplyStream:
    """Collects streamed pieces and hands finished parts to `send_part` at natural breaks."""

    def __init__(
        self,
        send_part: Callable[[str], Awaitable[None]],
        *,
        first_after: float = 0.25,
        min_chars: int = 80,
        long_chars: int = 400,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send_part = send_part
        self._first_after = first_after
        self._min_chars = min_chars
        self._long_chars = long_chars
        self._now = monotonic
        self._started = monotonic()
        self._pending = ""
        self.parts_sent = 0

    async def feed(self, piece: str) -> None:
        """Take the next piece; send what is finished if the answer is slow enough to need it."""
        self._pending += piece
        if self._now() - self._started < self._first_after:
            return
        cut = self._cut_point()
        if cut is None:
            return
        part, self._pending = self._pending[:cut].strip(), self._pending[cut:].lstrip()
        self.parts_sent += 1
        await self._send_part(part)

    def remainder(self) -> str:
        """What has not been sent yet: the final message."""
        return self._pending.strip()

    def _cut_point(self) -> int | None:
        # The last paragraph break with text after it; else, for a long paragraph, the last sentence end.
        breaks = [match.end() for match in _PARAGRAPH_BREAK.finditer(self._pending)]
        if not breaks and len(self._pending) >= self._long_chars:
            breaks = [match.end() for match in _SENTENCE_BREAK.finditer(self._pending)]
        for end in reversed(breaks):
            if end >= self._min_chars and self._pending[end:].strip():
                return end
        return None
