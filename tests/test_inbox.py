"""The durable inbox: dedupe by platform message id, and no message lost or answered twice across a crash."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.dialects import sqlite

from bot.foundation.clock import FakeClock
from bot.foundation.tables import OutboxMessage
from bot.inbox import claim_statement
from bot.models import InboxMessage
from bot.runtime import Coachline
from coaching.fake_generator import ScriptedGenerator
from tests.support.channels import RecordingChannel
from tests.support.chat import ChatDriver
from tests.support.waiting import HANG_SECONDS, until


async def _count(service: Coachline, model: type[InboxMessage] | type[OutboxMessage]) -> int:
    async with service.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_redelivered_message_is_stored_and_answered_once(service: Coachline) -> None:
    chat = ChatDriver(service)
    first = await service.receive(chat.message("hello", message_id="update-7"))
    again = await service.receive(chat.message("hello", message_id="update-7"))

    assert again.duplicate and not first.duplicate
    assert again.inbox_id == first.inbox_id
    outcome = await service.wait_for_replies(first.inbox_id, HANG_SECONDS)
    assert outcome.finished and len(outcome.replies) == 1
    assert await _count(service, InboxMessage) == 1


async def test_concurrent_redeliveries_are_stored_once(service: Coachline) -> None:
    chat = ChatDriver(service)
    message = chat.message("storm", message_id="evt-1")

    results = await asyncio.gather(*(service.receive(message) for _ in range(10)))

    assert len({result.inbox_id for result in results}) == 1
    assert sum(not result.duplicate for result in results) == 1


async def test_same_id_on_another_channel_is_another_message(service: Coachline) -> None:
    await service.receive(ChatDriver(service, channel="web").message("a", message_id="42"))
    await service.receive(ChatDriver(service, channel="console").message("b", message_id="42"))

    assert await _count(service, InboxMessage) == 2


async def test_a_message_survives_a_crash_before_its_answer_and_is_answered_once_after_restart(
    make_service: Callable[..., Coachline], database_url: str, clock: FakeClock
) -> None:
    stuck = ScriptedGenerator(delay_seconds=3600)  # the model never answers before the "crash"
    first = make_service(
        database_url=database_url,
        generator=stuck,
        clock=clock,
        claim_lease_seconds=30,
        shutdown_grace_seconds=0.1,
    )
    await first.start()
    inbox_id = await ChatDriver(first).send("Are you there?")
    await until(lambda: bool(stuck.requests), "the first instance to ask the model")
    await first.stop()  # it gives up on the answer in hand, as a crash would: the row keeps its lease

    channel = RecordingChannel("web")
    clock.advance(31)  # the dead instance's lease runs out
    second = make_service(
        database_url=database_url, generator=ScriptedGenerator(), clock=clock, channels={"web": channel}
    )
    await second.start()
    try:
        outcome = await second.wait_for_replies(inbox_id, HANG_SECONDS)
    finally:
        await second.stop()  # whatever it still had in hand is finished (or visibly abandoned) now
    try:
        replies = await second.outbox.rows_for_inbox(inbox_id)
        async with second.sessions() as session:
            status = await session.scalar(select(InboxMessage.status).where(InboxMessage.id == inbox_id))
    finally:
        await second.engine.dispose()  # stop() closed its connections; close the two just opened too

    assert outcome.finished
    assert status == "done"  # no instance can claim it again: a second answer cannot come later
    assert [row.text for row in replies] == ["echo: Are you there?"]
    assert [message.text for message in channel.sent] == ["echo: Are you there?"]


async def test_two_instances_on_one_database_answer_and_send_each_message_once(
    make_service: Callable[..., Coachline], database_url: str
) -> None:
    channels = [RecordingChannel("web"), RecordingChannel("web")]
    instances = [
        make_service(database_url=database_url, generator=ScriptedGenerator(), channels={"web": channel})
        for channel in channels
    ]
    for instance in instances:
        await instance.start()
    try:
        drivers = [ChatDriver(instances[index % 2], user_id=f"user-{index}") for index in range(40)]
        inbox_ids = await asyncio.gather(*(driver.send(f"question {n}") for n, driver in enumerate(drivers)))
        outcomes = await asyncio.gather(
            *(instances[0].wait_for_replies(inbox_id, HANG_SECONDS) for inbox_id in inbox_ids)
        )
    finally:
        for instance in instances:
            await instance.stop()

    assert all(outcome.finished and len(outcome.replies) == 1 for outcome in outcomes)
    sent = sorted(message.text for channel in channels for message in channel.sent)
    assert sent == sorted(f"echo: question {n}" for n in range(40))


def test_on_sqlite_a_claim_walks_the_waiting_rows_in_due_order_rather_than_sorting_them(
    sqlite_url: str,
) -> None:
    """The claim's plan on a migrated database: the walk over the partial index of waiting rows, in
    due order, with no sort of every waiting row (what made a claim cost more as the backlog grew)."""
    compiled = claim_statement(holding=True).compile(dialect=sqlite.dialect())
    sql = str(compiled).replace("(__[POSTCOMPILE_held])", "(?)")
    values = {"now": "2026-12-06 09:00:00", "lease_until": "2026-12-06 09:01:00", "held": 1}
    parameters = [values.get(name, compiled.params.get(name)) for name in compiled.positiontup or ()]
    database = sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///"))
    try:
        plan = [row[3] for row in database.execute(f"EXPLAIN QUERY PLAN {sql}", parameters)]
    finally:
        database.close()
    assert any("walked USING COVERING INDEX ix_inbox_waiting_due" in step for step in plan), plan
    assert any("earlier USING COVERING INDEX ix_inbox_waiting_sender" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
