"""In-process wake-ups, so workers react at once instead of waiting for their next poll."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Hashable


class Signal:
    """A broadcast nudge: every waiter wakes on `notify`. Polling still covers other instances.

    Take a `watch()` *before* looking at the state you wait on, then wait on it: a notify that lands
    while you look is not lost.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake everyone watching now."""
        self._event.set()
        self._event = asyncio.Event()

    def watch(self) -> Watch:
        """A watch that fires on the next `notify` after this call."""
        return Watch(self._event)

    async def wait(self, timeout: float) -> None:
        """Return on the next `notify`, or after `timeout` seconds."""
        await self.watch().wait(timeout)


class Watch:
    """One pending wake-up of a `Signal`."""

    def __init__(self, event: asyncio.Event) -> None:
        self._event = event

    async def wait(self, timeout: float) -> None:
        """Return once notified (at once if that already happened), or after `timeout` seconds."""
        # asyncio.timeout rather than wait_for: on Python 3.11, wait_for can swallow a cancellation
        # that lands as the event fires, and a worker loop would then never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._event.wait()


class KeyedSignal:
    """Wake-ups addressed to one key (say, an inbox message's id): only that key's waiters wake.

    Waiting on a broadcast `Signal`, every waiter woke (and read the database) whenever anything at
    all moved on; a keyed watch wakes only for its own key. Keys nobody watches cost nothing: the
    event lives only as long as a `Watch` holds it.
    """

    def __init__(self) -> None:
        self._events: weakref.WeakValueDictionary[Hashable, asyncio.Event] = weakref.WeakValueDictionary()

    def notify(self, key: Hashable) -> None:
        """Wake everyone watching `key` now."""
        event = self._events.pop(key, None)
        if event is not None:
            event.set()

    def watch(self, key: Hashable) -> Watch:
        """A watch that fires on the next `notify(key)` after this call."""
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = asyncio.Event()
        return Watch(event)
