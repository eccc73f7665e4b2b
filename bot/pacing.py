"""Each sender's fair share of the inbox: a rate per sender, and the time each message falls due.

A sender may send `burst` messages at once, then `per_minute` a minute (a token bucket, kept as the
generic cell rate algorithm so that the only state is each message's due time). Every accepted
message gets a place in the queue at its sender's pace: the first is due at once, the next
`60 / per_minute` seconds after the previous one's due time, and so on (one second apart when the
limit is off, so the order stays fair). The inbox claims one message per sender at a time, the
earliest due first; due times only order the queue, nobody waits for them. So a flood waits behind
its own sender while everyone else is answered.

A message beyond the burst is kept (`throttled`), never answered, and the first of a run gets one
polite "slow down" reply; later ones in the same window are not answered again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.models import InboxMessage

INBOX = cast(Table, InboxMessage.__table__)

# Built once, on the table (no ORM) with expanding lists of plain strings: a row-value IN built per
# call cost more than the rest of a webhook's acknowledgement (its tuple type and cache key were new
# every time). The pairs that match both lists but were not asked for are dropped after the read.
_LATEST_DUE = (
    select(INBOX.c.channel, INBOX.c.sender_id, func.max(INBOX.c.due_at))
    .where(
        INBOX.c.channel.in_(bindparam("channels", expanding=True)),
        INBOX.c.sender_id.in_(bindparam("senders", expanding=True)),
    )
    .group_by(INBOX.c.channel, INBOX.c.sender_id)
)

# The same for one sender, the usual batch when messages arrive one at a time: an expanding IN list
# has its SQL rendered again at every execution.
LATEST_DUE_OF_ONE = select(func.max(INBOX.c.due_at)).where(
    INBOX.c.channel == bindparam("channel"), INBOX.c.sender_id == bindparam("sender_id")
)

# Built once: whether one of a sender's messages was set aside since `since` (one per run of them).
SET_ASIDE_SINCE = (
    select(INBOX.c.id)
    .where(
        INBOX.c.channel == bindparam("channel"),
        INBOX.c.sender_id == bindparam("sender_id"),
        INBOX.c.status == "throttled",
        INBOX.c.processed_at > bindparam("since"),
    )
    .limit(1)
)

SLOW_DOWN = (
    "You're sending messages faster than I can answer, so I've set the last few aside without "
    "answering them. Please wait a minute, then send your question again."
)

# How far apart a sender's messages are placed in the queue when there is no rate to go by.
FAIR_SPACING = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class SenderRate:
    """`per_minute` messages a minute after a `burst`; `per_minute == 0` switches the limit off."""

    per_minute: float
    burst: int

    @property
    def enabled(self) -> bool:
        """Whether senders are limited at all."""
        return self.per_minute > 0

    @property
    def interval(self) -> timedelta:
        """The time between two messages of one sender at the sustained rate (or `FAIR_SPACING`)."""
        return timedelta(seconds=60 / self.per_minute) if self.enabled else FAIR_SPACING

    @property
    def window(self) -> timedelta:
        """How long a full burst takes to drain: also the quiet time before another "slow down"."""
        return self.interval * self.burst


@dataclass(frozen=True, slots=True)
class Pace:
    """The verdict on one received message."""

    due_at: datetime | None  # None: over the sender's rate, set aside
    tell_sender: bool = False  # the first message set aside in a while: answer it with SLOW_DOWN


Sender = tuple[str, str]  # (channel, sender id)


async def pace_many(
    session: AsyncSession | AsyncConnection,
    rate: SenderRate,
    senders: Sequence[Sender | None],
    now: datetime,
) -> list[Pace]:
    """The verdicts on messages received together, in arrival order; `None` marks one not paced
    (the caller decides: `Coachline.receive` exempts the channels whose capabilities say `operator`).

    One statement reads every sender's latest due time; a later message of the same sender in the
    batch queues behind the earlier ones exactly as if they had arrived one by one.
    """
    wanted = {sender for sender in senders if sender is not None}
    latest: dict[Sender, datetime] = {}
    if len(wanted) == 1:
        ((channel, sender_id),) = wanted
        found = await session.execute(LATEST_DUE_OF_ONE, {"channel": channel, "sender_id": sender_id})
        due = found.scalar()
        latest = {(channel, sender_id): due} if due is not None else {}
    elif wanted:
        found = await session.execute(
            _LATEST_DUE,
            {"channels": sorted({c for c, _ in wanted}), "senders": sorted({s for _, s in wanted})},
        )
        latest = {(c, s): due for c, s, due in found.all() if (c, s) in wanted and due is not None}
    verdicts = place(rate, senders, latest, now)
    told = {
        sender for sender in to_ask(verdicts, senders) if await _set_aside_lately(session, rate, sender, now)
    }
    return unless_told(verdicts, senders, told)


def place(
    rate: SenderRate, senders: Sequence[Sender | None], latest: dict[Sender, datetime], now: datetime
) -> list[Pace]:
    """The verdicts, given each sender's latest due time before this batch (`latest`, absent when
    they have nothing queued). The first message set aside of each sender is marked `tell_sender`:
    the caller asks whether that sender was told lately (`to_ask`) and clears it (`unless_told`).
    """
    latest = dict(latest)
    throttled_here: set[Sender] = set()
    verdicts: list[Pace] = []
    for sender in senders:
        if sender is None:
            verdicts.append(Pace(due_at=now))
            continue
        last = latest.get(sender)
        due = now if last is None else max(now, last + rate.interval)
        # Conforming while no more than `burst - 1` of the sender's messages are due ahead of this one.
        if not rate.enabled or due - now <= rate.interval * (rate.burst - 1):
            latest[sender] = due
            verdicts.append(Pace(due_at=due))
            continue
        verdicts.append(Pace(due_at=None, tell_sender=sender not in throttled_here))
        throttled_here.add(sender)
    return verdicts


def to_ask(verdicts: Sequence[Pace], senders: Sequence[Sender | None]) -> list[Sender]:
    """The senders whose "slow down" depends on whether they were told within the window."""
    return [
        sender for verdict, sender in zip(verdicts, senders, strict=True) if verdict.tell_sender and sender
    ]


def unless_told(verdicts: Sequence[Pace], senders: Sequence[Sender | None], told: set[Sender]) -> list[Pace]:
    """`verdicts` with no "slow down" for the senders `told` already within the window."""
    return [
        Pace(due_at=None) if verdict.tell_sender and sender in told else verdict
        for verdict, sender in zip(verdicts, senders, strict=True)
    ]


def set_aside_since(rate: SenderRate, now: datetime) -> datetime:
    """Since when a message set aside means its sender was told to slow down already."""
    return now - rate.window


async def _set_aside_lately(
    session: AsyncSession | AsyncConnection, rate: SenderRate, sender: Sender, now: datetime
) -> bool:
    found = await session.execute(
        SET_ASIDE_SINCE,
        {"channel": sender[0], "sender_id": sender[1], "since": set_aside_since(rate, now)},
    )
    return found.first() is not None
