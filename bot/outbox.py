"""The durable outbox: messages to send are rows first, then sent through their channel with retries.

A row is claimed with a lease like an inbox message, and the lease is renewed for as long as its
send and settle take (`hold`), so no row is sent twice while its first holder is alive: another
instance cannot claim it, and this instance never claims a row it already holds, however late a
renewal lands. If the process dies between the platform accepting a message and the row being marked
sent, that one message is sent again after the lease runs out: at most one duplicate per message in
flight, never a loss.
"""

from __future__ import annotations

import functools
import random
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, Update, and_, bindparam, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from bot.foundation.clock import Clock
from bot.foundation.leases import LeaseKeeper, Wait, claim_rows, renew_lease
from bot.foundation.messages import Button, ConversationReference, OutgoingMessage, Source
from bot.foundation.tables import ChannelAccount, OutboxMessage
from bot.group_commit import GroupCommit
from bot.signals import KeyedSignal, Signal
from channels.base import DeliveryReport

FINAL_STATES = ("sent", "failed")


def backoff_seconds(attempt: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Exponential backoff with jitter: about 1, 2, 4 ... seconds, at most `cap`."""
    delay: float = min(cap, base * 2 ** max(0, attempt - 1))
    return delay * random.uniform(0.8, 1.2)


def to_payload(message: OutgoingMessage) -> dict[str, Any]:
    """What an outgoing message carries beyond its text, as stored JSON."""
    return {
        "sources": [source.to_dict() for source in message.sources],
        "buttons": [{"label": button.label, "value": button.value} for button in message.buttons],
        "reply_to_message_id": message.reply_to_message_id,
        "media_urls": list(message.media_urls),
    }


def _row_values(
    dedupe_key: str,
    message: OutgoingMessage,
    now: datetime,
    conversation_id: int | None,
    inbox_id: int | None,
    *,
    not_before: datetime | None = None,
) -> dict[str, Any]:
    """A queued message's outbox columns (the ORM row's, and the bulk inserts')."""
    return {
        "dedupe_key": dedupe_key,
        "channel": message.conversation.channel,
        "conversation_ref": message.conversation.to_dict(),
        "conversation_id": conversation_id,
        "inbox_id": inbox_id,
        "text": message.text,
        "payload": to_payload(message),
        "next_attempt_at": not_before or now,
        "created_at": now,
    }


@functools.cache
def _settle_statement(names: tuple[str, ...]) -> Update:
    """The executemany `UPDATE` of one kind of settle (the columns `names` set), built once a kind."""
    return (
        update(OUTBOX)
        .where(OUTBOX.c.id == bindparam("settle_id"))
        # Counting settled attempts shows later which ones a crash cut off (broadcast reports).
        .values(
            claimed_by=None,
            lease_expires_at=None,
            settled_attempts=OUTBOX.c.settled_attempts + 1,
            **{name: bindparam(f"settle_{name}") for name in names},
        )
    )


def to_outgoing(row: OutboxMessage) -> OutgoingMessage:
    """Rebuild the normalised message from its outbox row."""
    payload = row.payload or {}
    return OutgoingMessage(
        conversation=ConversationReference.from_dict(row.conversation_ref),
        text=row.text,
        sources=tuple(Source.from_dict(item) for item in payload.get("sources", [])),
        buttons=tuple(Button(item["label"], item["value"]) for item in payload.get("buttons", [])),
        reply_to_message_id=payload.get("reply_to_message_id"),
        media_urls=tuple(payload.get("media_urls", [])),
    )


OUTBOX = cast(Table, OutboxMessage.__table__)
# Built once, as are the settles' updates (`_settle_statement`): on every message's path.
_INSERT_REPLIES = OUTBOX.insert()


@dataclass(frozen=True, slots=True)
class Settlement:
    """A row's final (or next) state, waiting for the next settle write."""

    outbox_id: int
    values: dict[str, Any]


class Outbox:
    """Queue, claim and settle outgoing messages; the core's `bot.foundation.delivery.DeliveryPort`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        instance_id: str,
        lease_seconds: float,
        max_attempts: int,
        renewal_wait: Wait | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.instance_id = instance_id
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.queued = Signal()  # a row is due
        self.settled = Signal()  # a row reached sent or failed
        # Keyed by inbox id: the message was answered, or one of its replies was settled (bot.replies).
        self.replies_moved = KeyedSignal()
        self._renewal_wait = renewal_wait
        # Rows this instance claimed and has not let go of: never claimed again by it, even when a
        # renewal is late, so one process cannot send a row twice.
        self._held: set[int] = set()
        # Settles and recipient checks of sends finishing or starting together share a transaction.
        self._settlements: GroupCommit[Settlement, None] = GroupCommit(self._settle_all, name="outbox-settle")
        self._recipient_checks: GroupCommit[OutboxMessage, str | None] = GroupCommit(
            self._check_recipients, name="outbox-recipients"
        )

    def enqueue(
        self,
        session: AsyncSession,
        message: OutgoingMessage,
        *,
        dedupe_key: str,
        conversation_id: int | None = None,
        inbox_id: int | None = None,
        not_before: datetime | None = None,
    ) -> OutboxMessage:
        """Add a message inside the caller's transaction; its `dedupe_key` makes a second add fail."""
        row = OutboxMessage(
            **_row_values(
                dedupe_key, message, self._clock.now(), conversation_id, inbox_id, not_before=not_before
            )
        )
        session.add(row)
        return row

    async def enqueue_replies(
        self,
        session: AsyncSession | AsyncConnection,
        keyed: Sequence[tuple[str, OutgoingMessage]],
        *,
        conversation_id: int | None,
        inbox_id: int | None,
    ) -> None:
        """Add an answer's replies inside the caller's transaction, in one statement; a dedupe key
        queued already makes it fail (like `enqueue`, without building an ORM object per row: the unit
        of work cost more than the insert, on every message)."""
        if not keyed:
            return
        now = self._clock.now()
        await session.execute(
            _INSERT_REPLIES,
            [
                _row_values(dedupe_key, message, now, conversation_id, inbox_id)
                for dedupe_key, message in keyed
            ],
        )

    async def enqueue_new(self, session: AsyncSession, keyed: Sequence[tuple[str, OutgoingMessage]]) -> int:
        """Add the messages whose dedupe key is not queued yet ("on conflict do nothing"); how many were.

        One statement for a whole batch, so a fan-out resumed after a crash fills in only what is missing.
        """
        if not keyed:
            return 0
        now = self._clock.now()
        # One multi-row VALUES: every row names the same columns, defaults included.
        rows = [
            _row_values(dedupe_key, message, now, None, None) | {"status": "pending", "attempts": 0}
            for dedupe_key, message in keyed
        ]
        dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(OutboxMessage).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
        result = await session.execute(statement)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def claim(self, channels: Collection[str], limit: int) -> list[OutboxMessage]:
        """Take up to `limit` due rows for the channels this instance runs."""
        if not channels:
            return []

        def claimable() -> ColumnElement[bool]:
            now = self._clock.now()
            condition = and_(
                OutboxMessage.channel.in_(list(channels)),
                or_(
                    and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
                    and_(OutboxMessage.status == "sending", OutboxMessage.lease_expires_at <= now),
                ),
            )
            return and_(condition, OutboxMessage.id.not_in(sorted(self._held))) if self._held else condition

        rows = await claim_rows(
            self._sessions,
            OutboxMessage,
            claimable=claimable,
            order_by=(OutboxMessage.next_attempt_at, OutboxMessage.id),
            limit=limit,
            status="sending",
            instance_id=self.instance_id,
            lease_until=lambda: self._clock.now() + self.lease,
        )
        self._held.update(row.id for row in rows)
        return rows

    @asynccontextmanager
    async def hold(self, row: OutboxMessage) -> AsyncIterator[LeaseKeeper]:
        """Keep our lease on a claimed row while the block sends and settles it, then let go of it.

        The keeper's `lost` is set if another instance took the row (our lease had run out): the
        block must then not send it.
        """
        try:
            async with LeaseKeeper(
                lambda: self.renew(row.id), self.lease.total_seconds() / 3, wait=self._renewal_wait
            ) as keeper:
                yield keeper
        finally:
            self._held.discard(row.id)

    async def renew(self, outbox_id: int) -> bool:
        """Extend our lease on a row still waiting for its turn or being sent; False if we lost it."""
        return await renew_lease(
            self._sessions,
            OutboxMessage,
            outbox_id,
            status="sending",
            instance_id=self.instance_id,
            lease_until=lambda: self._clock.now() + self.lease,
        )

    @property
    def held(self) -> frozenset[int]:
        """The rows this instance holds now (claimed and not yet let go of)."""
        return frozenset(self._held)

    async def mark_sent(self, outbox_id: int, platform_message_id: str | None) -> None:
        """The platform accepted the message."""
        await self._settle(
            outbox_id, status="sent", sent_at=self._clock.now(), platform_message_id=platform_message_id
        )

    async def mark_failed(self, outbox_id: int, error: str) -> None:
        """The message will never go out."""
        await self._settle(outbox_id, status="failed", last_error=error)

    async def mark_recipient_unreachable(
        self, row: OutboxMessage, error: str, *, fail_row: bool = True, opted_out: bool = False
    ) -> None:
        """The person blocked the bot or opted out: fail this row and stop sending to their account.

        `opted_out` (the platform says they opted out, e.g. Twilio 21610) marks the account opted out,
        which only an explicit opt-in clears, instead of unreachable, which writing again clears.
        """
        reference = ConversationReference.from_dict(row.conversation_ref)
        account = ChannelAccount.channel == row.channel, ChannelAccount.external_id == reference.chat_id
        async with self._sessions.begin() as session:
            if opted_out:
                await session.execute(
                    update(ChannelAccount)
                    .where(*account, ChannelAccount.opted_out_at.is_(None))
                    .values(opted_out_at=self._clock.now())
                )
            else:
                await session.execute(update(ChannelAccount).where(*account).values(reachable=False))
        if fail_row:
            await self.mark_failed(row.id, error)

    async def undeliverable_reason(self, row: OutboxMessage) -> str | None:
        """Why nothing may be sent to this row's recipient now (opted out, blocked), or None.

        Checked just before every send, so opt-outs bind replies, program steps and broadcasts alike;
        the checks of sends starting together share one query.
        """
        return await self._recipient_checks.submit(row)

    async def _check_recipients(self, rows: list[OutboxMessage]) -> list[str | None]:
        recipients = [
            (row.channel, ConversationReference.from_dict(row.conversation_ref).chat_id) for row in rows
        ]
        wanted = set(recipients)
        async with self._sessions() as session:
            found = await session.execute(
                select(
                    ChannelAccount.channel,
                    ChannelAccount.external_id,
                    ChannelAccount.opted_out_at,
                    ChannelAccount.reachable,
                ).where(tuple_(ChannelAccount.channel, ChannelAccount.external_id).in_(sorted(wanted)))
            )
            accounts = {
                (channel, who): (opted_out_at, reachable) for channel, who, opted_out_at, reachable in found
            }
        reasons: list[str | None] = []
        for recipient in recipients:
            account = accounts.get(recipient)
            if account is None:  # a group chat or a channel, not a person's account
                reasons.append(None)
            elif account[0] is not None:
                reasons.append("recipient opted out")
            elif not account[1]:
                reasons.append("recipient blocked the bot")
            else:
                reasons.append(None)
        return reasons

    async def record_delivery(self, report: DeliveryReport) -> bool:
        """Store a platform's delivery report on the message it is about; False when none matches."""
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(OutboxMessage).where(
                    OutboxMessage.channel == report.channel,
                    OutboxMessage.platform_message_id == report.platform_message_id,
                )
            )
            if row is None:
                return False
            row.delivery_status = report.status
            row.delivery_updated_at = self._clock.now()
            if report.error:
                row.last_error = report.error
        if report.recipient_unreachable or report.opted_out:
            await self.mark_recipient_unreachable(
                row, report.error or report.status, fail_row=False, opted_out=report.opted_out
            )
        self.settled.notify()
        return True

    async def retry_later(self, row: OutboxMessage, error: str, retry_after: float | None) -> None:
        """Put a row back for another attempt, or fail it when attempts are used up."""
        if row.attempts >= self.max_attempts:
            await self.mark_failed(row.id, f"gave up after {row.attempts} attempts: {error}")
            return
        delay = retry_after if retry_after is not None else backoff_seconds(row.attempts)
        async with self._sessions.begin() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == self.instance_id)
                .values(
                    status="pending",
                    last_error=error,
                    claimed_by=None,
                    lease_expires_at=None,
                    next_attempt_at=self._clock.now() + timedelta(seconds=delay),
                    settled_attempts=OutboxMessage.settled_attempts + 1,
                )
            )

    async def _settle(self, outbox_id: int, **values: Any) -> None:
        await self._settlements.submit(Settlement(outbox_id, values))
        self.settled.notify()

    async def _settle_all(self, batch: list[Settlement]) -> list[None]:
        """One transaction for every settle waiting: one executemany `UPDATE` per kind of settle."""
        kinds: dict[tuple[str, ...], list[Settlement]] = {}
        for settlement in batch:
            kinds.setdefault(tuple(sorted(settlement.values)), []).append(settlement)
        async with self._sessions.begin() as session:
            connection = await session.connection()
            for names, settlements in kinds.items():
                await connection.execute(
                    _settle_statement(names),
                    [
                        {"settle_id": item.outbox_id}
                        | {f"settle_{name}": item.values[name] for name in names}
                        for item in settlements
                    ],
                )
        return [None] * len(batch)

    async def rows_for_inbox(self, inbox_id: int) -> list[OutboxMessage]:
        """The replies queued for one received message, in order."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(OutboxMessage).where(OutboxMessage.inbox_id == inbox_id).order_by(OutboxMessage.id)
            )
            return list(rows)
