"""The durable inbox: every received message is persisted first, deduped, then claimed for processing.

A claim is a lease: the worker holding it renews it while it works; if the worker dies, the lease
runs out and another worker (or the restarted one) takes the message again. Finishing a message and
queueing its replies happen in one transaction, so a message is answered once however often it is
claimed.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.leases import claim_rows, renew_lease
from bot.models import InboxMessage
from bot.signals import Signal
from channels.base import Accepted
from channels.messages import Attachment, ConversationReference, IncomingMessage


class Inbox:
    """Persist, dedupe and claim received messages."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        instance_id: str,
        lease_seconds: float,
        max_attempts: int = 3,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.instance_id = instance_id
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.arrived = Signal()

    async def accept(self, message: IncomingMessage) -> Accepted:
        """Persist a message unless the same (channel, message id) is already there."""
        row = InboxMessage(
            channel=message.channel,
            external_id=message.message_id,
            sender_id=message.user_id,
            sender_name=message.user_name,
            conversation_ref=message.conversation.to_dict(),
            text=message.text,
            attachments=[attachment.to_dict() for attachment in message.attachments],
            raw=message.raw,
            received_at=message.received_at,
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
            inbox_id, duplicate = row.id, False
        except IntegrityError:
            async with self._sessions() as session:
                existing = await session.scalar(
                    select(InboxMessage.id).where(
                        InboxMessage.channel == message.channel,
                        InboxMessage.external_id == message.message_id,
                    )
                )
            if existing is None:
                raise
            inbox_id, duplicate = existing, True
        if not duplicate:
            self.arrived.notify()
        return Accepted(inbox_id, duplicate)

    async def claim(self, limit: int) -> list[InboxMessage]:
        """Take up to `limit` messages that are waiting or whose previous worker's lease ran out."""
        now = self._clock.now()
        claimable = or_(
            and_(
                InboxMessage.status == "pending",
                or_(InboxMessage.lease_expires_at.is_(None), InboxMessage.lease_expires_at <= now),
            ),
            and_(InboxMessage.status == "processing", InboxMessage.lease_expires_at <= now),
        )
        return await claim_rows(
            self._sessions,
            InboxMessage,
            claimable=claimable,
            order_by=(InboxMessage.id,),
            limit=limit,
            status="processing",
            instance_id=self.instance_id,
            lease_until=now + self.lease,
        )

    async def renew(self, inbox_id: int) -> bool:
        """Extend our lease on a message we are still working on; False if we lost it."""
        return await renew_lease(
            self._sessions,
            InboxMessage,
            inbox_id,
            status="processing",
            instance_id=self.instance_id,
            lease_until=self._clock.now() + self.lease,
        )

    async def finish(
        self, session: AsyncSession, inbox_id: int, *, status: str, error: str | None = None
    ) -> bool:
        """Mark a message done or failed inside the caller's transaction, if we still hold it.

        Returns False when the lease was lost to another worker: the caller must then roll back,
        because that worker will answer the message instead.
        """
        result = await session.execute(
            update(InboxMessage)
            .where(
                InboxMessage.id == inbox_id,
                InboxMessage.status == "processing",
                InboxMessage.claimed_by == self.instance_id,
            )
            .values(status=status, processed_at=self._clock.now(), lease_expires_at=None, error=error)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def retry_later(self, inbox_id: int, error: str, delay_seconds: float) -> None:
        """Give a message back after a failed attempt, to be tried again after a delay."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(InboxMessage)
                .where(InboxMessage.id == inbox_id, InboxMessage.claimed_by == self.instance_id)
                .values(
                    status="pending",
                    error=error,
                    claimed_by=None,
                    lease_expires_at=self._clock.now() + timedelta(seconds=delay_seconds),
                )
            )
        self.arrived.notify()


def to_incoming(row: InboxMessage) -> IncomingMessage:
    """Rebuild the normalised message from its inbox row."""
    return IncomingMessage(
        channel=row.channel,
        user_id=row.sender_id,
        user_name=row.sender_name,
        conversation=ConversationReference.from_dict(row.conversation_ref),
        message_id=row.external_id,
        text=row.text,
        attachments=tuple(Attachment.from_dict(item) for item in row.attachments),
        received_at=row.received_at,
        raw=row.raw,
    )
