"""The delivery port: how an engine hands the core a message to send, without importing the core.

The core's outbox (`bot.outbox.Outbox`) implements it. A message is queued inside the caller's own
transaction under a dedupe key unique to its cause, so whatever writes it twice (a retried job, two
instances) queues it once; `queued` is woken after the transaction commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.foundation.messages import OutgoingMessage


class Wakeable(Protocol):
    """Something waiting for work that can be told there is some."""

    def notify(self) -> None:
        """Wake whoever waits."""
        ...


class DeliveryPort(Protocol):
    """Queue outgoing messages for delivery, each under a dedupe key."""

    @property
    def queued(self) -> Wakeable:
        """Notified by the caller once its transaction with new messages has committed."""
        ...

    def enqueue(
        self, session: AsyncSession, message: OutgoingMessage, *, dedupe_key: str, inbox_id: int | None = None
    ) -> object:
        """Add one message inside `session`'s transaction; a second add under the same key fails there."""
        ...

    async def enqueue_new(self, session: AsyncSession, keyed: Sequence[tuple[str, OutgoingMessage]]) -> int:
        """Add the messages whose dedupe key is not queued yet, skipping the others; how many were added."""
        ...
