"""Broadcasts: one message to all of a creator's people, a tag's, or a program's, on every channel.

The fan-out writes one outbox row per reachable channel account, in batches, each keyed
`broadcast:<id>:<account>` and inserted with "on conflict do nothing": a fan-out interrupted by a crash
is resumed (`resume_unfinished`) and fills in only the missing rows. The outbox then sends them at
each channel's rate, skipping people who opted out or blocked the bot, and the report counts the
rows by outcome, read from the outbox (never from a counter in memory). A crash between the platform
accepting a message and its row being marked sent makes that message go again after the restart;
the report says how many sent messages may have gone twice (`maybe_sent_twice`), so it reconciles
with what the platform accepted.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.foundation.clock import Clock
from bot.foundation.messages import ConversationReference, OutgoingMessage
from bot.foundation.tables import ChannelAccount, OutboxMessage, User
from bot.outbox import Outbox, to_payload
from programs.models import Broadcast, Enrollment, UserTag

BATCH = 500
MAX_TEXT = 4000


class BroadcastError(ValueError):
    """A broadcast that cannot be made; the message says why."""


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a broadcast goes to: everyone (`all`), a tag's people, or a program's enrolments."""

    kind: str = "all"
    value: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stored form."""
        return {"kind": self.kind, "value": self.value}

    def describe(self) -> str:
        """Human words for it."""
        if self.kind == "tag":
            return f"people tagged {self.value!r}"
        if self.kind == "program":
            return f"people enrolled in program {self.value}"
        return "everyone"


class Broadcaster:
    """Creates broadcasts, fans them out into the outbox, and reports on them."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox, clock: Clock) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._clock = clock

    async def create(
        self,
        creator_id: str,
        text: str,
        audience: Audience,
        channels: Collection[str],
        *,
        created_by: str | None = None,
    ) -> Broadcast:
        """Record a broadcast and fan it out to the audience on `channels` (the messaging channels)."""
        text = text.strip()
        if not text:
            raise BroadcastError("the message is empty")
        if len(text) > MAX_TEXT:
            raise BroadcastError(f"the message is {len(text):,} characters; {MAX_TEXT:,} at most")
        if audience.kind not in ("all", "tag", "program") or (audience.kind != "all" and not audience.value):
            raise BroadcastError("audience: use all, a tag, or a program id")
        now = self._clock.now()
        broadcast = Broadcast(
            id=str(uuid.uuid4()),
            creator_id=creator_id,
            text=text,
            audience={**audience.to_dict(), "channels": sorted(channels)},
            created_by=created_by,
            created_at=now,
        )
        async with self._sessions.begin() as session:
            session.add(broadcast)
        await self.fan_out(broadcast.id)
        async with self._sessions() as session:
            return await session.get_one(Broadcast, broadcast.id)

    async def fan_out(self, broadcast_id: str) -> int:
        """Queue the broadcast's missing outbox rows (all of them the first time); returns how many."""
        async with self._sessions() as session:
            broadcast = await session.get_one(Broadcast, broadcast_id)
            accounts = await _audience_accounts(session, broadcast)
        channels = set(broadcast.audience.get("channels", []))
        reachable = [account for account in accounts if account[1] in channels]
        skipped = Counter(channel for _, channel, _ in accounts if channel not in channels)
        now = self._clock.now()
        added = 0
        for start in range(0, len(reachable), BATCH):
            batch = reachable[start : start + BATCH]
            rows = [
                _outbox_values(broadcast, account_id, channel, external_id, now)
                for account_id, channel, external_id in batch
            ]
            async with self._sessions.begin() as session:
                added += await _insert_ignoring_duplicates(session, rows)
            self._outbox.queued.notify()
        async with self._sessions.begin() as session:
            await session.execute(
                update(Broadcast)
                .where(Broadcast.id == broadcast_id)
                .values(status="queued", recipients=len(reachable), skipped=dict(skipped), queued_at=now)
            )
        return added

    async def resume_unfinished(self) -> int:
        """Finish fan-outs a crash interrupted; returns how many broadcasts were resumed."""
        async with self._sessions() as session:
            ids = list(await session.scalars(select(Broadcast.id).where(Broadcast.status == "fanning_out")))
        for broadcast_id in ids:
            await self.fan_out(broadcast_id)
        return len(ids)

    async def report(self, broadcast_id: str, creator_id: str | None = None) -> dict[str, Any] | None:
        """Progress and outcome: sent, failed, opted out, blocked, still queued."""
        async with self._sessions() as session:
            broadcast = await session.get(Broadcast, broadcast_id)
            if broadcast is None or (creator_id is not None and broadcast.creator_id != creator_id):
                return None
            rows = (
                await session.execute(
                    select(
                        OutboxMessage.status,
                        OutboxMessage.last_error,
                        OutboxMessage.channel,
                        OutboxMessage.attempts,
                        OutboxMessage.settled_attempts,
                    ).where(OutboxMessage.dedupe_key.like(f"broadcast:{broadcast_id}:%"))
                )
            ).all()
        counts = Counter[str]()
        by_channel: dict[str, Counter[str]] = {}
        maybe_twice = 0
        for status, error, channel, attempts, settled in rows:
            outcome = _outcome(status, error)
            counts[outcome] += 1
            by_channel.setdefault(channel, Counter())[outcome] += 1
            if outcome == "sent":
                maybe_twice += _cut_off_attempts(status, attempts, settled)
        queued = counts["queued"]
        return {
            "broadcast_id": broadcast.id,
            "creator_id": broadcast.creator_id,
            "text": broadcast.text,
            "audience": broadcast.audience,
            "status": "done" if broadcast.status == "queued" and queued == 0 else broadcast.status,
            "recipients": broadcast.recipients,
            "sent": counts["sent"],
            # Sent messages of which an earlier attempt was cut off (a kill -9, a lost lease) after
            # it was claimed: each may have reached the platform twice, so the platform accepted
            # between `sent` and `sent + maybe_sent_twice` messages.
            "maybe_sent_twice": maybe_twice,
            "failed": counts["failed"],
            "opted_out": counts["opted_out"],
            "blocked": counts["blocked"],
            "queued": queued,
            "by_channel": {channel: dict(counter) for channel, counter in by_channel.items()},
            "skipped_channels": broadcast.skipped,
            "created_at": broadcast.created_at,
        }


def _cut_off_attempts(status: str, attempts: int, settled: int) -> int:
    """Attempts on a row that never recorded an outcome (one in flight right now is not one)."""
    in_flight = 1 if status == "sending" else 0
    return max(0, attempts - settled - in_flight)


def _outcome(status: str, error: str | None) -> str:
    if status == "sent":
        return "sent"
    if status in ("pending", "sending"):
        return "queued"
    if error == "recipient opted out":
        return "opted_out"
    if error == "recipient blocked the bot":
        return "blocked"
    return "failed"


async def _audience_accounts(session: AsyncSession, broadcast: Broadcast) -> list[tuple[int, str, str]]:
    """(account id, channel, external id) of everyone in the audience, one row per channel account."""
    kind, value = broadcast.audience.get("kind", "all"), broadcast.audience.get("value")
    query = (
        select(ChannelAccount.id, ChannelAccount.channel, ChannelAccount.external_id)
        .join(User, User.id == ChannelAccount.user_id)
        .where(User.creator_id == broadcast.creator_id)
        .order_by(ChannelAccount.id)
    )
    if kind == "tag":
        query = query.where(User.id.in_(select(UserTag.user_id).where(UserTag.tag == value)))
    elif kind == "program":
        query = query.where(
            User.id.in_(
                select(Enrollment.user_id).where(
                    Enrollment.program_id == value, Enrollment.status == "active"
                )
            )
        )
    return [(row[0], row[1], row[2]) for row in (await session.execute(query)).all()]


def _outbox_values(
    broadcast: Broadcast, account_id: int, channel: str, external_id: str, now: datetime
) -> dict[str, Any]:
    message = OutgoingMessage(
        ConversationReference(channel, external_id, creator_id=broadcast.creator_id), broadcast.text
    )
    return {
        "dedupe_key": f"broadcast:{broadcast.id}:{account_id}",
        "channel": channel,
        "conversation_ref": message.conversation.to_dict(),
        "text": message.text,
        "payload": to_payload(message),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


async def _insert_ignoring_duplicates(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(OutboxMessage).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
    result = await session.execute(statement)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
