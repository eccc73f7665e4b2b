"""Send pacing: each channel's overall rate and its per-chat rate, as in `ChannelLimits`.

A generic cell-rate algorithm: every key (a channel, or a channel's chat) has a theoretical
arrival time that each send pushes forward by `cost / rate`. A send may go once that time is
within the burst tolerance of now: up to one second's worth of sends (at least one) go at once,
and a send of several units (a message split in parts, SMS segments) goes first and is paid for
by the sends after it. Reservations are made before waiting, so concurrent
senders queue up fairly instead of all waking at once.

The pacing is per instance: two instances each keep their own rate, so a deployment of N
instances should divide the configured rates by N (the platforms' 429s catch the rest). A limiter
just made grants no burst for its first second: the process before it (killed and restarted, say) may
have spent that second's allowance, and the platform counts both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from channels.base import ChannelLimits

Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """Waits as long as needed to keep every channel and chat within its rate."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._now = monotonic
        self._sleep = sleep
        self._born = monotonic()
        self._arrivals: dict[tuple[str, ...], float] = {}
        self._reservations = 0

    def reserve(self, channel: str, chat_id: str, limits: ChannelLimits, cost: int = 1) -> float:
        """Book `cost` units for a send to `chat_id`; returns how many seconds to wait before sending."""
        now = self._now()
        buckets = [
            (key, rate)
            for key, rate in (((channel,), limits.overall_rate), ((channel, chat_id), limits.per_chat_rate))
            if rate is not None and rate > 0
        ]
        wait = max((self._earliest(key, rate) - now for key, rate in buckets), default=0.0)
        # Book from the moment the send will really happen, for both buckets.
        start = now + max(0.0, wait)
        for key, rate in buckets:
            arrival = self._arrivals.get(key, self._born + _tolerance(rate))
            self._arrivals[key] = max(start, arrival) + cost / rate
        self._reservations += 1
        if self._reservations % 1024 == 0:
            self._forget_idle(now)
        return max(0.0, wait)

    async def acquire(self, channel: str, chat_id: str, limits: ChannelLimits, cost: int = 1) -> float:
        """Wait until a send of `cost` units to `chat_id` is within the limits; returns the wait."""
        wait = self.reserve(channel, chat_id, limits, cost)
        if wait > 0:
            await self._sleep(wait)
        return wait

    def _earliest(self, key: tuple[str, ...], rate: float) -> float:
        """When the next send on `key` may go: its arrival time less the burst tolerance.

        A key unseen in the first second of our life goes from when we were made, as if its burst had
        just been spent (by the process before us): its arrival time is then our birth plus the tolerance.
        """
        if key in self._arrivals:
            return self._arrivals[key] - _tolerance(rate)
        return self._born

    def _forget_idle(self, now: float) -> None:
        # A key whose arrival time has passed is back to a full burst: the same as never seen.
        for key in [key for key, arrival in self._arrivals.items() if arrival <= now]:
            del self._arrivals[key]


def _tolerance(rate: float) -> float:
    """How far ahead of now a key's arrival time may be and a send still go: one second's worth of
    sends (at least one) as a burst."""
    return max(1.0, rate) / rate - 1.0 / rate
