"""The durable outbox: retries with backoff, honours retry-after, gives up cleanly, stops at blocked users."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import select

from bot.foundation.clock import FakeClock
from bot.foundation.messages import ConversationReference, OutgoingMessage
from bot.foundation.tables import ChannelAccount, OutboxMessage
from bot.outbox import backoff_seconds
from bot.runtime import Coachline
from channels.base import (
    DeliveryReport,
    PermanentSendError,
    RecipientUnreachableError,
    TemporarySendError,
)
from coaching.fake_generator import ScriptedGenerator
from tests.support.channels import RecordingChannel
from tests.support.chat import ChatDriver
from tests.support.waiting import put_back_for_retry, until, until_progress


@pytest.fixture
def channel() -> RecordingChannel:
    """The platform the replies go to."""
    return RecordingChannel("test")


@pytest.fixture
async def flaky_service(
    make_service: Callable[..., Coachline], database_url: str, clock: FakeClock, channel: RecordingChannel
) -> AsyncIterator[Coachline]:
    """A service whose only channel fails on cue, on a clock the test moves."""
    service = make_service(
        database_url=database_url,
        clock=clock,
        channels={"test": channel},
        generator=ScriptedGenerator(),
        send_max_attempts=4,
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def _settled(service: Coachline, inbox_id: int, clock: FakeClock, step: float = 1.0) -> OutboxMessage:
    """Move the clock `step` at a time, each time letting the workers act, until the reply is settled."""
    settled: list[OutboxMessage] = []

    async def sent_or_failed() -> bool:
        rows = await service.outbox.rows_for_inbox(inbox_id)
        if rows and rows[0].status in ("sent", "failed"):
            settled.append(rows[0])
            return True
        clock.advance(step)
        return False

    await until_progress(service, sent_or_failed, f"the reply to inbox {inbox_id} to settle")
    return settled[0]


async def test_a_temporary_failure_is_retried_until_it_goes_out(
    flaky_service: Coachline, channel: RecordingChannel, clock: FakeClock
) -> None:
    channel.failures = [TemporarySendError("platform down"), TemporarySendError("still down")]
    inbox_id = await ChatDriver(flaky_service, channel="test").send("hi")

    row = await _settled(flaky_service, inbox_id, clock)

    assert row.status == "sent"
    assert row.attempts == 3
    assert [message.text for message in channel.sent] == ["echo: hi"]


async def test_retry_after_is_waited_out_before_the_next_attempt(
    flaky_service: Coachline, channel: RecordingChannel, clock: FakeClock
) -> None:
    channel.failures = [TemporarySendError("429", retry_after=120)]
    inbox_id = await ChatDriver(flaky_service, channel="test").send("hi")

    retry = await put_back_for_retry(flaky_service)
    clock.advance(119)
    assert retry.next_attempt_at > clock.now()  # not due before retry_after: no worker can claim it
    assert channel.sent == []

    clock.advance(2)
    row = await _settled(flaky_service, inbox_id, clock, step=0)
    assert row.status == "sent"


async def test_attempts_are_capped_then_the_row_fails(
    flaky_service: Coachline, channel: RecordingChannel, clock: FakeClock
) -> None:
    channel.failures = [TemporarySendError("down")] * 10
    inbox_id = await ChatDriver(flaky_service, channel="test").send("hi")

    row = await _settled(flaky_service, inbox_id, clock, step=5)

    assert row.status == "failed"
    assert row.attempts == 4
    assert "gave up after 4 attempts" in (row.last_error or "")


async def test_a_permanent_error_is_not_retried(
    flaky_service: Coachline, channel: RecordingChannel, clock: FakeClock
) -> None:
    channel.failures = [PermanentSendError("chat not found")]
    inbox_id = await ChatDriver(flaky_service, channel="test").send("hi")

    row = await _settled(flaky_service, inbox_id, clock)

    assert row.status == "failed" and row.attempts == 1
    assert row.last_error == "chat not found"


async def test_a_blocked_recipient_is_marked_unreachable(
    flaky_service: Coachline, channel: RecordingChannel, clock: FakeClock
) -> None:
    channel.failures = [RecipientUnreachableError("bot was blocked by the user")]
    inbox_id = await ChatDriver(flaky_service, channel="test", user_id="u1").send("hi")

    row = await _settled(flaky_service, inbox_id, clock)

    assert row.status == "failed"
    async with flaky_service.sessions() as session:
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "u1"))
    assert account is not None and account.reachable is False


def test_backoff_grows_and_is_capped() -> None:
    delays = [backoff_seconds(attempt, cap=60) for attempt in range(1, 12)]

    assert 0.8 <= delays[0] <= 1.2
    assert 3.2 <= delays[2] <= 4.8
    assert max(delays) <= 72


async def test_nothing_is_sent_to_an_opted_out_person(
    flaky_service: Coachline, channel: RecordingChannel, clock: FakeClock
) -> None:
    chat = ChatDriver(flaky_service, channel="test", user_id="u2")
    await _settled(flaky_service, await chat.send("hi"), clock)
    async with flaky_service.sessions.begin() as session:
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "u2"))
        assert account is not None
        account.opted_out_at = clock.now()

    row = await _settled(flaky_service, await chat.send("hello again"), clock)

    assert row.status == "failed" and row.last_error == "recipient opted out"
    assert [message.text for message in channel.sent] == ["echo: hi"]


async def test_a_blocked_person_who_writes_again_is_reachable_again(
    flaky_service: Coachline, channel: RecordingChannel, clock: FakeClock
) -> None:
    chat = ChatDriver(flaky_service, channel="test", user_id="u3")
    channel.failures = [RecipientUnreachableError("bot was blocked by the user")]
    await _settled(flaky_service, await chat.send("hi"), clock)

    row = await _settled(flaky_service, await chat.send("I unblocked you"), clock)

    assert row.status == "sent"
    assert [message.text for message in channel.sent] == ["echo: I unblocked you"]


async def test_a_delivery_report_is_stored_on_its_message(
    flaky_service: Coachline, channel: RecordingChannel, clock: FakeClock
) -> None:
    row = await _settled(flaky_service, await ChatDriver(flaky_service, channel="test").send("hi"), clock)
    assert row.platform_message_id is not None

    matched = await flaky_service.outbox.record_delivery(
        DeliveryReport("test", row.platform_message_id, "undelivered", error="30003 unreachable handset")
    )
    unknown = await flaky_service.outbox.record_delivery(DeliveryReport("test", "nope", "delivered"))

    async with flaky_service.sessions() as session:
        stored = await session.get_one(OutboxMessage, row.id)
    assert matched and not unknown
    assert stored.delivery_status == "undelivered"
    assert stored.last_error == "30003 unreachable handset"


async def test_messages_to_one_chat_go_in_queue_order(
    make_service: Callable[..., Coachline], database_url: str
) -> None:
    channel = RecordingChannel("test")
    service = make_service(
        database_url=database_url, channels={"test": channel}, generator=ScriptedGenerator()
    )
    await service.start()
    try:
        async with service.sessions.begin() as session:
            for index in range(12):
                service.outbox.enqueue(
                    session,
                    OutgoingMessage(ConversationReference("test", "chat-1"), f"part {index}"),
                    dedupe_key=f"order:{index}",
                )
        service.outbox.queued.notify()
        await until(lambda: len(channel.sent) == 12, "the twelve parts to go out")
    finally:
        await service.stop()

    assert [message.text for message in channel.sent] == [f"part {index}" for index in range(12)]
