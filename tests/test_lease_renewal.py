"""Exactly once under load: a claim's lease lasts as long as its send and its settle, on a slowed
database and a slowed platform, so neither another instance nor this one sends the row again.

Time is a `FakeClock`; the lease keeper's waits are ticked by the test; the slowed database moves the
clock while a transaction waits for its connection, and can hold one statement until told. No sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.foundation.clock import FakeClock
from bot.foundation.db import create_engine, session_factory
from bot.foundation.leases import LeaseKeeper
from bot.foundation.messages import ConversationReference, OutgoingMessage
from bot.foundation.tables import OutboxMessage
from bot.outbox import Outbox
from bot.signals import Signal
from bot.workers import OutboxWorker
from channels.base import SendResult
from tests.support.channels import RecordingChannel
from tests.support.waiting import HANG_SECONDS

LEASE = 30.0
CONNECTION_WAIT = 8.0  # what each transaction of the slowed instance waits for its connection


class SlowDatabase:
    """Sessions whose every transaction first waits `delay` seconds (on the fake clock) for a
    connection; `hold_next()` keeps the next one waiting until `release()`."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: FakeClock, delay: float) -> None:
        self._sessions = sessions
        self._clock = clock
        self._delay = delay
        self._hold = False
        self.held = asyncio.Event()
        self._released = asyncio.Event()

    def hold_next(self) -> None:
        self._hold = True

    def release(self) -> None:
        self._released.set()

    async def _wait_for_connection(self) -> None:
        self._clock.advance(self._delay)
        if self._hold:
            self._hold = False
            self.held.set()
            await self._released.wait()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:
        await self._wait_for_connection()
        async with self._sessions.begin() as session:
            yield session

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        await self._wait_for_connection()
        async with self._sessions() as session:
            yield session


class SlowPlatform(RecordingChannel):
    """A platform whose send is accepted only when the test says so."""

    def __init__(self) -> None:
        super().__init__("test")
        self.sending = asyncio.Event()
        self.accept = asyncio.Event()

    async def send(self, message: OutgoingMessage) -> SendResult:
        self.sending.set()
        await self.accept.wait()
        return await super().send(message)


class Ticks:
    """The lease keeper's timer, moved by the test: `tick()` lets one wait end and returns once the
    keeper waits again (its renewal has landed)."""

    def __init__(self) -> None:
        self._waiters: asyncio.Queue[asyncio.Future[None]] = asyncio.Queue()
        self._next: asyncio.Future[None] | None = None

    async def wait(self, seconds: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._waiters.put(waiter)
        await waiter

    async def tick(self) -> None:
        await self.let_go()
        self._next = await self._waiters.get()

    async def let_go(self) -> None:
        """End the keeper's current wait without waiting for the next one (it may stop)."""
        waiter = self._next or await self._waiters.get()
        self._next = None
        waiter.set_result(None)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


async def _queue_one(outbox: Outbox, sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        outbox.enqueue(
            session, OutgoingMessage(ConversationReference("test", "chat-1"), "hello"), dedupe_key="once"
        )


async def test_a_slow_send_and_a_slow_settle_keep_their_lease_and_go_out_once(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    slow = SlowDatabase(sessions, clock, CONNECTION_WAIT)
    ticks = Ticks()
    first = Outbox(
        cast(async_sessionmaker[AsyncSession], slow),
        clock,
        instance_id="first",
        lease_seconds=LEASE,
        max_attempts=5,
        renewal_wait=ticks.wait,
    )
    other = Outbox(sessions, clock, instance_id="other", lease_seconds=LEASE, max_attempts=5)
    platform = SlowPlatform()
    await _queue_one(first, sessions)
    worker = OutboxWorker(first, {"test": platform}, Signal(), concurrency=4, poll_seconds=3600)
    running = asyncio.create_task(worker.run())

    async def nobody_else_can_take_it() -> None:
        assert await other.claim(["test"], 10) == []  # another instance
        assert await first.claim(["test"], 10) == []  # this instance's own next round

    await platform.sending.wait()
    for _ in range(4):  # the platform takes its time: about four leases pass during the send
        clock.advance(LEASE / 3)
        await nobody_else_can_take_it()
        await ticks.tick()
        await nobody_else_can_take_it()

    settled = first.settled.watch()
    slow.hold_next()  # the settle waits on the database...
    platform.accept.set()
    await slow.held.wait()
    for _ in range(4):  # ...for longer than a lease, while renewals still reach it
        clock.advance(LEASE / 3)
        await ticks.tick()
        await nobody_else_can_take_it()
    slow.release()
    await settled.wait(3600)
    worker.request_stop()
    await running

    async with sessions() as session:
        [row] = (await session.scalars(select(OutboxMessage))).all()
    assert [message.text for message in platform.sent] == ["hello"]
    assert (row.status, row.attempts) == ("sent", 1)
    assert first.held == frozenset()


async def test_a_holder_whose_lease_was_taken_does_not_send(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    ticks = Ticks()
    first = Outbox(
        sessions, clock, instance_id="first", lease_seconds=LEASE, max_attempts=5, renewal_wait=ticks.wait
    )
    other = Outbox(sessions, clock, instance_id="other", lease_seconds=LEASE, max_attempts=5)
    await _queue_one(first, sessions)
    [row] = await first.claim(["test"], 10)
    clock.advance(LEASE + 1)  # the first holder was stalled past its lease (no renewal ran)
    [taken] = await other.claim(["test"], 10)

    async with first.hold(row) as lease:
        await ticks.let_go()  # the first renewal finds the row is someone else's
        await lease.lost.wait()

    assert taken.id == row.id and taken.claimed_by == "other"
    assert lease.lost.is_set()
    assert first.held == frozenset()


async def test_a_failed_renewal_is_retried_rather_than_ending_the_lease() -> None:
    ticks = Ticks()
    outcomes: list[bool | Exception] = [ConnectionError("database busy"), True, False]

    async def renew() -> bool:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async with LeaseKeeper(renew, 10.0, wait=ticks.wait) as keeper:
        await ticks.tick()  # the error: logged, tried again
        await ticks.tick()  # renewed
        assert (keeper.renewals, keeper.lost.is_set()) == (1, False)
        await ticks.let_go()  # the row was taken: the keeper stops and says so
        await keeper.lost.wait()

    assert outcomes == []


async def test_on_the_real_clock_a_keeper_renews_from_a_timer_while_its_holder_works() -> None:
    renewed_twice = asyncio.Event()
    calls = 0

    async def renew() -> bool:
        nonlocal calls
        calls += 1
        if calls == 2:
            renewed_twice.set()
        return True

    # No `wait`: the first renewal is a timer on the event loop, the task starts when it fires.
    async with LeaseKeeper(renew, 0.001) as keeper:
        # The holder is still working: the lease keeps being renewed (a keeper whose timer never
        # started its task would leave this waiting until the hang limit, and fail).
        await asyncio.wait_for(renewed_twice.wait(), HANG_SECONDS)
    assert keeper.renewals >= 2 and not keeper.lost.is_set()


async def test_a_claim_settled_before_its_first_renewal_costs_no_task_and_no_renewal() -> None:
    calls = 0

    async def renew() -> bool:
        nonlocal calls
        calls += 1
        return True

    async with LeaseKeeper(renew, 60.0) as keeper:
        timer = keeper._timer
        assert keeper._task is None and timer is not None  # only a timer is pending
    assert timer.cancelled()  # it can never start a renewal now
    assert keeper._task is None and calls == 0
