"""Received messages persisted by group commit (`bot.group_commit`): every message that arrives while
a write is under way is persisted by the next write, all in one transaction of a few statements.

A webhook is acknowledged once its message is stored, so the store is on every platform request's
path. One at a time, each message paid for its own transaction; under load, messages now share one:
on PostgreSQL one read of their senders' pace and one `INSERT … ON CONFLICT DO NOTHING … RETURNING`
for all of them (a redelivery is no error, just no row); on SQLite a read per sender and an insert per
message, all in one call (below); then one read of the ids of redeliveries, one commit. A message is
acknowledged only after the commit that holds it.

The write runs on a Core connection, with statements built once: the ORM's session, unit of work and
per-call statement building cost more CPU than the two statements themselves. On SQLite the pace
reads and the inserts go further down, in one call on the driver's own connection
(`bot.arrivals_sqlite`): a message acknowledged one at a time cost 0.91–0.94 ms of CPU with them
through SQLAlchemy and 0.73–0.76 ms so (`python -m bench.telegram --ack`). A session is made (on the
same transaction) only for a batch that queues a "slow down".
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Insert, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.arrivals_sqlite import write_arrivals
from bot.foundation.clock import Clock
from bot.foundation.messages import IncomingMessage
from bot.group_commit import GroupCommit
from bot.models import InboxMessage
from bot.pacing import Pace, SenderRate, pace_many
from channels.base import Accepted

INBOX = cast(Table, InboxMessage.__table__)


@dataclass(frozen=True, slots=True)
class Arrival:
    """One received message waiting for the next write."""

    message: IncomingMessage
    paced: bool

    @property
    def key(self) -> tuple[str, str]:
        """What makes two deliveries the same message."""
        return (self.message.channel, self.message.message_id)


@dataclass(frozen=True, slots=True)
class Stored:
    """A newly stored message and its pace verdict (for the "slow down" a throttled run gets)."""

    inbox_id: int
    arrival: Arrival
    verdict: Pace


# Called inside the write's transaction with the messages it stored, before the commit, when one of them
# is the first of a run set aside (its sender is to be told to slow down): the only work it has.
AfterInsert = Callable[[AsyncSession, Sequence[Stored]], Awaitable[None]]


@functools.cache
def insert_ignoring_redeliveries(dialect: str) -> Insert:
    """`INSERT INTO inbox … ON CONFLICT (channel, external_id) DO NOTHING RETURNING` for this database.

    Built once per dialect: building it costs more than the rest of a small batch.
    """
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(INBOX)
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
        .returning(INBOX.c.id, INBOX.c.channel, INBOX.c.external_id)
    )


def row_values(message: IncomingMessage, verdict: Pace, now: datetime) -> dict[str, Any]:
    """The inbox row for a message (every key always present: the rows go in one statement)."""
    throttled = verdict.due_at is None
    return {
        "channel": message.channel,
        "external_id": message.message_id,
        "sender_id": message.user_id,
        "sender_name": message.user_name,
        "conversation_ref": message.conversation.to_dict(),
        "text": message.text,
        "attachments": [attachment.to_dict() for attachment in message.attachments],
        "raw": message.raw,
        "received_at": message.received_at,
        "due_at": verdict.due_at,
        "status": "throttled" if throttled else "pending",
        "processed_at": now if throttled else None,
        "error": "over the sender's rate" if throttled else None,
        "attempts": 0,
    }


class ArrivalWriter:
    """Persists received messages in shared transactions; `store` returns once a message is committed."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        rate: Callable[[], SenderRate],
        after_insert: AfterInsert,
    ) -> None:
        self._engine = cast(AsyncEngine, sessions.kw["bind"])
        self._clock = clock
        self._rate = rate
        self._after_insert = after_insert
        self.writes: GroupCommit[Arrival, Accepted] = GroupCommit(self._write, name="inbox-writer")

    async def store(self, message: IncomingMessage, *, paced: bool) -> Accepted:
        """Persist one message (deduped on channel + message id) with the others arriving now."""
        return await self.writes.submit(Arrival(message, paced))

    async def _write(self, batch: list[Arrival]) -> list[Accepted]:
        firsts: dict[tuple[str, str], Arrival] = {}
        for arrival in batch:
            firsts.setdefault(arrival.key, arrival)
        unique = list(firsts.values())
        async with self._engine.begin() as connection:
            verdicts, inserted = await self._insert(connection, unique, self._clock.now())
            stored = [
                Stored(inserted[a.key], a, verdict)
                for a, verdict in zip(unique, verdicts, strict=True)
                if a.key in inserted
            ]
            if any(item.verdict.tell_sender for item in stored):
                await self._after_insert_in(connection, stored)
            redelivered = [a.key for a in unique if a.key not in inserted]
            existing = await _ids_of(connection, redelivered) if redelivered else {}
        throttled = {item.arrival.key for item in stored if item.verdict.due_at is None}
        accepted: list[Accepted] = []
        for arrival in batch:
            if arrival is firsts[arrival.key] and arrival.key in inserted:
                accepted.append(
                    Accepted(inserted[arrival.key], duplicate=False, throttled=arrival.key in throttled)
                )
            else:  # a redelivery, of a message stored before or earlier in this batch
                accepted.append(Accepted(inserted.get(arrival.key) or existing[arrival.key], duplicate=True))
        return accepted

    async def _insert(
        self, connection: AsyncConnection, unique: list[Arrival], now: datetime
    ) -> tuple[list[Pace], dict[tuple[str, str], int]]:
        """Pace the messages and insert the new ones: their verdicts, and the ids of those inserted."""
        senders = [(a.message.channel, a.message.user_id) if a.paced else None for a in unique]

        def rows(verdicts: list[Pace]) -> list[dict[str, Any]]:
            return [row_values(a.message, verdict, now) for a, verdict in zip(unique, verdicts, strict=True)]

        if connection.dialect.name == "sqlite":
            verdicts, ids = await write_arrivals(connection, self._rate(), senders, rows, now)
            return verdicts, {
                a.key: row_id for a, row_id in zip(unique, ids, strict=True) if row_id is not None
            }
        verdicts = await pace_many(connection, self._rate(), senders, now)
        result = await connection.execute(
            insert_ignoring_redeliveries(connection.dialect.name), rows(verdicts)
        )
        return verdicts, {(channel, external): row_id for row_id, channel, external in result}

    async def _after_insert_in(self, connection: AsyncConnection, stored: Sequence[Stored]) -> None:
        """Run `after_insert` in a session joined to the write's transaction (committed with it)."""
        session = AsyncSession(bind=connection, expire_on_commit=False)
        try:
            await self._after_insert(session, stored)
            await session.flush()
        finally:
            await session.close()


# Built once (see `bot.pacing`); pairs matching both lists but not asked for are dropped after the read.
_IDS_OF = select(INBOX.c.channel, INBOX.c.external_id, INBOX.c.id).where(
    INBOX.c.channel.in_(bindparam("channels", expanding=True)),
    INBOX.c.external_id.in_(bindparam("externals", expanding=True)),
)


async def _ids_of(connection: AsyncConnection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    found = await connection.execute(
        _IDS_OF,
        {"channels": sorted({c for c, _ in keys}), "externals": sorted({external for _, external in keys})},
    )
    wanted = set(keys)
    return {(c, external): row_id for c, external, row_id in found.all() if (c, external) in wanted}
