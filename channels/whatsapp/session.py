"""WhatsApp's customer-service window: free-form messages only within 24 hours of the person's last.

Outside the window WhatsApp accepts only an approved template. The adapter remembers when each
person last wrote (in memory: an instance that did not see it, or one restarted since, does not know,
and says so), and Twilio has the last word, refusing a free-form message outside the window
(error 63016).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

WINDOW = timedelta(hours=24)
# A message queued just before the window closes may reach WhatsApp after it: stop a little early.
SAFETY_MARGIN = timedelta(minutes=5)
MAX_REMEMBERED = 100_000


class Window(StrEnum):
    """What this instance knows of a person's window."""

    OPEN = "open"
    CLOSED = "closed"
    UNKNOWN = "unknown"


class SessionWindows:
    """When each person last wrote, as far as this instance saw."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._last: OrderedDict[str, datetime] = OrderedDict()

    def wrote(self, number: str, at: datetime | None = None) -> None:
        """`number` sent a message (at `at`, default now): their window opens for 24 hours."""
        at = at or self._now()
        previous = self._last.get(number)
        if previous is None or at > previous:
            self._last[number] = at
            self._last.move_to_end(number)
        while len(self._last) > MAX_REMEMBERED:
            self._last.popitem(last=False)

    def closed(self, number: str) -> None:
        """WhatsApp said the window is closed (error 63016): believe it until they write again."""
        self._last[number] = datetime.min.replace(tzinfo=self._now().tzinfo)

    def state(self, number: str) -> Window:
        """Whether a free-form message to `number` may go out now."""
        last = self._last.get(number)
        if last is None:
            return Window.UNKNOWN
        return Window.OPEN if self._now() - last < WINDOW - SAFETY_MARGIN else Window.CLOSED
