"""In-process wake-ups, so workers react at once instead of waiting for their next poll."""

from __future__ import annotations

import asyncio
import contextlib


class Signal:
    """A broadcast nudge: every waiter wakes on `notify`. Polling still covers other instances."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake everyone waiting now."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        """Return on the next `notify`, or after `timeout` seconds."""
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
