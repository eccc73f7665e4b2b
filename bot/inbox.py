"""The durable inbox: every received message is persisted first, deduped, then claimed for processing.

A claim is a lease: the worker holding it renews it while it works; if the worker dies, the lease
runs out and another worker (or the restarted one) takes the message again. Finishing a message and
queueing its replies happen in one transaction, so a message is answered once however often it is
claimed.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Table,
    Update,
    and_,
    bindparam,
    distinct,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.arrivals import Arrival, ArrivalWriter, Stored
from bot.foundation.clock import Clock
from bot.foundation.leases import renew_lease
from bot.foundation.messages import Attachment, ConversationReference, IncomingMessage, OutgoingMessage
from bot.group_commit import GroupCommit
from bot.models import InboxMessage, Waiting
from bot.outbox import Outbox
from bot.pacing import SLOW_DOWN, SenderRate
from bot.planner_statistics import StatisticsRefresh
from bot.signals import Signal
from bot.unclaimed import UnclaimedSenders
from channels.base import Accepted
from coaching.status import ComponentStatus

INBOX = cast(Table, InboxMessage.__table__)


@dataclass(frozen=True, slots=True)
class Backlog:
    """The inbox's waiting work: `lag_seconds` is the age of the oldest message not yet answered."""

    messages: int
    senders: int
    lag_seconds: float
    throttled_total: int  # messages ever set aside for going over their sender's rate


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
        rate: SenderRate | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self._sessions = sessions
        self.rate = rate or SenderRate(per_minute=0, burst=1)
        self._outbox = outbox  # where a "slow down" goes
        self._clock = clock
        self.instance_id = instance_id
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.arrived = Signal()
        self._unclaimed = UnclaimedSenders()
        self._arrivals = ArrivalWriter(sessions, clock, lambda: self.rate, self._tell_to_slow_down)
        # On PostgreSQL the claim's plan depends on the table's statistics: a slow claim refreshes them.
        self.statistics = StatisticsRefresh(cast(AsyncEngine, sessions.kw["bind"]), INBOX.name, clock)

    @property
    def arrival_writes(self) -> GroupCommit[Arrival, Accepted]:
        """The shared writes received messages are stored by (their count shows the batching)."""
        return self._arrivals.writes

    async def accept(self, message: IncomingMessage, *, paced: bool = True) -> Accepted:
        """Persist a message unless the same (channel, message id) is already there.

        A message over its sender's rate is kept as `throttled` and never answered; the first of a
        run is answered with one "slow down" (queued in the same transaction). Messages arriving
        together share one transaction (`bot.arrivals`).
        """
        accepted = await self._arrivals.store(message, paced=paced)
        if accepted.duplicate:
            return accepted
        if not accepted.throttled:
            self._unclaimed.stored((message.channel, message.user_id))
            self.arrived.notify()
        elif self._outbox is not None:  # the first of a run was answered with a "slow down"
            self._outbox.queued.notify()
        return accepted

    async def _tell_to_slow_down(self, session: AsyncSession, stored: Sequence[Stored]) -> None:
        """Queue the one "slow down" of each run of messages set aside, with the messages themselves."""
        for item in stored:
            if item.verdict.tell_sender and self._outbox is not None:
                message = item.arrival.message
                self._outbox.enqueue(
                    session,
                    OutgoingMessage(message.conversation, SLOW_DOWN, reply_to_message_id=message.message_id),
                    dedupe_key=f"inbox:{item.inbox_id}:slow-down",
                    inbox_id=item.inbox_id,
                )

    async def claim(self, limit: int, held: Collection[int] = ()) -> list[InboxMessage]:
        """Take up to `limit` messages that are waiting or whose previous worker's lease ran out.

        Round-robin across senders: at most one message per sender is taken, the sender's oldest,
        and none from a sender whose previous message is still being answered (on any instance);
        among senders the earliest due goes first. So a flood occupies one worker, in order, and
        everyone else's messages are claimed beside it.
        """
        now = self._clock.now()
        # Never our own rows in hand: a lease that ran out while we still work on one (a slow model, a
        # clock moved on) must not hand it to a second task of this instance.
        params: dict[str, Any] = {
            "now": now,
            "lease_until": now + self.lease,
            "instance_id": self.instance_id,
            "limit": limit,
        }
        if held:
            params["held"] = sorted(held)
        started = perf_counter()
        async with self._sessions.begin() as session:
            rows = list(await session.scalars(claim_statement(holding=bool(held)), params))
        self.statistics.took(perf_counter() - started)
        for row in rows:
            self._unclaimed.claimed(row.id, (row.channel, row.sender_id))
        return sorted(rows, key=lambda row: (row.due_at or row.received_at, row.id))

    def may_have_next(self, row: InboxMessage) -> bool:
        """Whether the sender of a message just finished may have another one to claim now."""
        return self._unclaimed.may_have_next(row.id, (row.channel, row.sender_id))

    async def waiting(self) -> Backlog:
        """What waits to be answered: how many messages, from how many senders, since when."""
        async with self._sessions() as session:
            count, senders, oldest = (
                await session.execute(
                    select(
                        func.count(),
                        func.count(distinct(InboxMessage.channel + ":" + InboxMessage.sender_id)),
                        func.min(InboxMessage.received_at),
                    ).where(InboxMessage.status.in_(("pending", "processing")))
                )
            ).one()
            throttled = await session.scalar(
                select(func.count()).select_from(InboxMessage).where(InboxMessage.status == "throttled")
            )
        now = self._clock.now()
        lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        return Backlog(int(count), int(senders), lag, int(throttled or 0))

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
        self,
        session: AsyncSession | AsyncConnection,
        inbox_id: int,
        *,
        status: str,
        error: str | None = None,
    ) -> bool:
        """Mark a message done or failed inside the caller's transaction, if we still hold it.

        Returns False when the lease was lost to another worker: the caller must then roll back,
        because that worker will answer the message instead.
        """
        result = await session.execute(
            _FINISH,
            {
                "inbox_id": inbox_id,
                "instance_id": self.instance_id,
                "status": status,
                "now": self._clock.now(),
                "error": error,
            },
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


def _claimable(row: type[InboxMessage] | Any = InboxMessage) -> ColumnElement[bool]:
    """Whether `row` may be claimed now: waiting (and not held back for a retry), or in the hands of
    a worker whose lease ran out."""
    now: BindParameter[datetime] = bindparam("now")
    return or_(
        and_(row.status == "pending", or_(row.lease_expires_at.is_(None), row.lease_expires_at <= now)),
        and_(row.status == "processing", row.lease_expires_at <= now),
    )


def _claimable_walking(row: Any) -> ColumnElement[bool]:
    """`_claimable` again, written so that no index on the status serves it: the claim walks the
    waiting rows in due order (or takes its candidates by id), rather than reading every waiting row
    through the status index and sorting them all."""
    return and_(
        Waiting(row.status),
        or_(
            row.lease_expires_at <= bindparam("now"),
            and_(row.lease_expires_at.is_(None), row.status == "pending"),
        ),
    )


@functools.cache
def claim_statement(*, holding: bool) -> Update:
    """The claim (`Inbox.claim`), built once: its parameters are `now`, `lease_until`, `instance_id`,
    `limit`, and with `holding` the ids in this instance's hands (`held`), which it never takes.

    It walks the waiting rows in due order (`ix_inbox_waiting_due`) and takes each row that is the
    oldest claimable one of its sender (`ix_inbox_waiting_sender`) and whose sender has nothing in
    anyone's hands, until it has `limit`. So it reads about as many rows as it takes, however deep the
    backlog: grouping every waiting row by sender first cost 6.5 ms a claim at 1,000 waiting and 45 ms
    at 10,000 on SQLite (`bench.inbox_claims`, fan-in). Its worst case is a backlog whose every sender
    is busy, read to the end to find nothing. A row of ours whose lease ran out still counts as its
    sender's oldest, so the sender's next message waits for it (grouping skipped it and handed the
    next one out beside it). PostgreSQL runs the same statement as its planner sees fit.
    """
    walked = aliased(InboxMessage, name="walked")
    earlier = aliased(InboxMessage, name="earlier")
    busy = aliased(InboxMessage, name="busy")
    claimable = _claimable_walking(walked)
    if holding:
        claimable = and_(claimable, walked.id.not_in(bindparam("held", expanding=True)))
    sender_of = (earlier.channel == walked.channel, earlier.sender_id == walked.sender_id)
    # Not the sender's oldest claimable message: that one goes first.
    behind = (
        select(earlier.id)
        .where(*sender_of, Waiting(earlier.status), earlier.id < walked.id, _claimable(earlier))
        .exists()
    )
    # The sender has a message in someone's hands (a lease still running, on any instance).
    in_hand = (
        select(busy.id)
        .where(
            busy.channel == walked.channel,
            busy.sender_id == walked.sender_id,
            busy.status == "processing",
            busy.lease_expires_at > bindparam("now"),
        )
        .exists()
    )
    # Materialised, so PostgreSQL picks (and SKIP LOCKs) the candidates once: a subquery that the
    # planner re-ran would hand out more than `limit` rows.
    candidates = (
        select(walked.id)
        .where(claimable, ~behind, ~in_hand)
        .order_by(walked.due_at, walked.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
        .cte("candidates")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        update(InboxMessage)
        .where(InboxMessage.id.in_(select(candidates.c.id)), _claimable_walking(InboxMessage))
        .values(
            status="processing",
            claimed_by=bindparam("instance_id"),
            lease_expires_at=bindparam("lease_until"),
            attempts=InboxMessage.attempts + 1,
        )
        .returning(InboxMessage)
        .execution_options(synchronize_session=False)
    )


# Built once, on the table: marking a message answered is on every message's path.
_FINISH = (
    update(INBOX)
    .where(
        INBOX.c.id == bindparam("inbox_id"),
        INBOX.c.status == "processing",
        INBOX.c.claimed_by == bindparam("instance_id"),
    )
    .values(
        status=bindparam("status"),
        processed_at=bindparam("now"),
        lease_expires_at=None,
        error=bindparam("error"),
    )
)


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


def inbox_status(backlog: Backlog, lag_degraded_seconds: float) -> ComponentStatus:
    """The inbox for `/health/integration`: degraded once its oldest waiting message is too old."""
    detail = (
        f"{backlog.messages} waiting from {backlog.senders} senders; "
        f"oldest {backlog.lag_seconds:.1f} s (degraded past {lag_degraded_seconds:g} s); "
        f"{backlog.throttled_total} set aside for going over a sender's rate"
    )
    return ComponentStatus("degraded" if backlog.lag_seconds > lag_degraded_seconds else "real", detail)
