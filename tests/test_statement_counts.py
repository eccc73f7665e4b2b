"""The message path's cost in SQL statements: counted (a count is deterministic, unlike time).

Messages arriving together are stored by one write, sends settling together by one `UPDATE`, and a
whole chat message, from its arrival to its settled reply, takes a known number of statements.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import replies
from bot.composition import build_service
from bot.foundation.messages import ConversationReference, OutgoingMessage
from bot.foundation.tables import OutboxMessage
from bot.runtime import Coachline
from coaching.embeddings import HashingEmbedder
from coaching.fake_generator import ScriptedGenerator
from coaching.vector_store import InMemoryVectorStore
from config import Settings
from tests.support.channels import RecordingChannel
from tests.support.chat import ChatDriver

# Measured on SQLite: 2 to store, 1 to claim (a sender with a message in hand is left out in the same
# statement; it was a read of its own), 1 to read who wrote, their conversation, its memory, whether
# they are in a program and whether their creator has any ready document (`bot.chat_context`; it was
# 4 to identify the sender, 1 to read the history, 1 to look for an enrolment and 1 to look for a
# document), 3 to commit the answer (the transcript's turns in one statement, the reply, done), 1 to
# claim the reply, 1 to check its recipient, 1 to settle it: 10; and the waiter's one read (status
# and replies joined) when it starts and when its reply settles: 12 (was 21). An answer with replies
# to send no longer wakes the waiter (it would find them pending). The inbox worker no longer claims
# again after each message unless the sender may have another waiting (`bot.unclaimed`). Messages
# arriving, and sends settling, together share their statements (the tests above), and a waiter
# wakes only for its own.
STATEMENTS_PER_CHAT_MESSAGE = 12
# Someone writing for the first time: the 12 above, and once the chat read has found no one, the
# general way: a look for their account, the default creator, the new user, their account (between a
# SAVEPOINT and its RELEASE, which count here: a race with another worker ends in the savepoint),
# their conversation, and one read of their enrolment and their creator's documents: 20. It was 26:
# the creator was selected twice (the session had dropped it), and the new person's grants,
# conversation and memory were each looked for, with a savepoint around the conversation, though
# nothing can refer to a person this transaction creates.
STATEMENTS_PER_FIRST_MESSAGE = 20


# Transaction control and maintenance, which the counts leave out.
_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|PRAGMA|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


@asynccontextmanager
async def counted(engine: AsyncEngine) -> AsyncIterator[list[str]]:
    """The statements the database runs inside the block: those SQLAlchemy sends (an executemany
    counts once) and, on SQLite, those run on the driver's connection without it (the arrival write,
    `bot.arrivals_sqlite`), which SQLite's trace shows outside any of SQLAlchemy's executions."""
    statements: list[str] = []
    in_sqlalchemy = False

    def before(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal in_sqlalchemy
        statements.append(statement)
        in_sqlalchemy = True

    def after(*_: Any) -> None:
        nonlocal in_sqlalchemy
        in_sqlalchemy = False

    def traced(statement: str) -> None:
        if not in_sqlalchemy and not _CONTROL.match(statement):
            statements.append(statement)

    async with engine.connect() as connection:  # the pool's one SQLite connection
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
    sqlite_connection = getattr(driver, "_conn", None) if engine.dialect.name == "sqlite" else None
    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    if sqlite_connection is not None:
        sqlite_connection.set_trace_callback(traced)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)
        event.remove(engine.sync_engine, "after_cursor_execute", after)
        if sqlite_connection is not None:
            sqlite_connection.set_trace_callback(None)


async def test_messages_arriving_together_are_stored_by_one_write(
    make_service: Callable[..., Coachline],
) -> None:
    service = make_service()  # not started: nothing but the stores below touches the database
    people = [ChatDriver(service, channel="telegram", user_id=f"person-{n}") for n in range(20)]
    writes = service.inbox.arrival_writes
    writes_before = writes.writes
    try:
        async with counted(service.engine) as statements:
            accepted = await asyncio.gather(
                *(service.receive(person.message(f"hi {n}")) for n, person in enumerate(people))
            )
        writes_for_twenty = writes.writes - writes_before
        redelivered = await asyncio.gather(
            *(
                service.receive(person.message("again", message_id=f"m-{n}"))
                for n, person in enumerate(people[:3])
            ),
            *(
                service.receive(person.message("again", message_id=f"m-{n}"))
                for n, person in enumerate(people[:3])
            ),
        )
    finally:
        await service.engine.dispose()

    assert len({receipt.inbox_id for receipt in accepted}) == 20
    assert not any(receipt.duplicate for receipt in accepted)
    # One transaction for all twenty. On SQLite its statements run in one call on the driver's
    # connection (`bot.arrivals_sqlite`): a read of each sender's pace and an INSERT … ON CONFLICT DO
    # NOTHING per message. (Through SQLAlchemy they were one read and one INSERT for all twenty; with
    # 32 webhooks in flight the acknowledgement costs the same CPU either way, `bench.telegram --ack`.)
    assert writes_for_twenty == 1
    assert sorted(statement.split()[0] for statement in statements) == ["INSERT"] * 20 + ["SELECT"] * 20
    assert [receipt.duplicate for receipt in redelivered] == [False] * 3 + [True] * 3
    assert [receipt.inbox_id for receipt in redelivered[:3]] == [
        receipt.inbox_id for receipt in redelivered[3:]
    ]


async def test_sends_settling_together_are_marked_by_one_statement(
    make_service: Callable[..., Coachline],
) -> None:
    service = make_service()
    outbox = service.outbox
    try:
        async with service.sessions.begin() as session:
            rows = [
                outbox.enqueue(
                    session,
                    OutgoingMessage(ConversationReference("telegram", str(n)), f"note {n}"),
                    dedupe_key=f"note-{n}",
                )
                for n in range(10)
            ]
        async with counted(service.engine) as statements:
            await asyncio.gather(*(outbox.mark_sent(row.id, f"tg-{row.id}") for row in rows))
        async with service.sessions() as session:
            settled = (
                await session.execute(select(OutboxMessage.status, OutboxMessage.platform_message_id))
            ).all()
    finally:
        await service.engine.dispose()

    assert sorted(settled) == sorted(("sent", f"tg-{row.id}") for row in rows)
    assert len(statements) == 1  # one executemany UPDATE


@pytest.mark.parametrize(
    ("first_contact", "expected"),
    [(False, STATEMENTS_PER_CHAT_MESSAGE), (True, STATEMENTS_PER_FIRST_MESSAGE)],
    ids=["wrote-before", "first-message"],
)
async def test_a_chat_message_from_arrival_to_settled_reply_takes_its_statement_count(
    make_settings: Callable[..., Settings],
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    first_contact: bool,
    expected: int,
) -> None:
    # The waiter reads when its message moves on, never on the cross-instance timer, here.
    monkeypatch.setattr(replies, "CROSS_INSTANCE_POLL_SECONDS", 3600.0)
    channel = RecordingChannel("telegram")
    service = build_service(
        make_settings(database_url=sqlite_url),
        channels={"telegram": channel},
        generator=ScriptedGenerator(),
        embedder=HashingEmbedder(),
        vector_store=InMemoryVectorStore(),
        poll_seconds=3600,  # the workers look when told, never on a timer: the count is the path's own
    )
    await service.start()
    try:
        warm = ChatDriver(service, channel="telegram", user_id="42")
        await warm.ask("warm up")  # the person, their conversation and the caches exist from now on
        chat = ChatDriver(service, channel="telegram", user_id="43") if first_contact else warm
        async with counted(service.engine) as statements:
            accepted = await service.receive(chat.message("how do I start?"))
            outcome = await service.wait_for_replies(accepted.inbox_id, 10)
    finally:
        await service.stop()

    assert outcome.finished and [reply.status for reply in outcome.replies] == ["sent"]
    assert channel.sent[-1].text.endswith("how do I start?")
    assert len(statements) == expected, "\n".join(s.split("\n")[0] for s in statements)
