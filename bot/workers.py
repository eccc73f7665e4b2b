"""The background loops that drain the inbox (answer messages) and the outbox (send them)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Mapping
from functools import partial

from bot.dispatcher import Dispatcher, LeaseLostError
from bot.foundation.leases import LeaseKeeper
from bot.foundation.tables import OutboxMessage
from bot.inbox import Inbox
from bot.models import InboxMessage
from bot.outbox import Outbox, backoff_seconds, to_outgoing
from bot.rate_limits import RateLimiter
from bot.signals import Signal
from channels.base import Channel, RecipientUnreachableError, SendError

log = logging.getLogger(__name__)
# How long a busy worker waits, once a slot is free, for more to free up before claiming.
REFILL_WAIT = 0.01


class InboxWorker:
    """Claims received messages and hands them to the dispatcher, several at a time.

    Messages of one conversation are answered in the order they arrived (a lock per chat).
    """

    def __init__(
        self,
        inbox: Inbox,
        dispatcher: Dispatcher,
        progress: Signal,
        *,
        concurrency: int,
        poll_seconds: float = 1.0,
    ) -> None:
        self._inbox = inbox
        self._dispatcher = dispatcher
        self._progress = progress
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._poll = poll_seconds
        # Weak: a chat's lock lives while a message of that chat is being handled, then goes.
        self._chat_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._tasks: set[asyncio.Task[None]] = set()
        # Rows this instance is answering: never claimed again by it, even after their lease ran out.
        self._held: set[int] = set()
        self._stopping = False

    def request_stop(self) -> None:
        """Finish the current round and stop looping (cancelling mid-claim could strand a connection)."""
        self._stopping = True
        self._inbox.arrived.notify()

    async def run(self) -> None:
        """Loop until `request_stop`."""
        while not self._stopping:
            arrival = self._inbox.arrived.watch()
            free = self._concurrency - len(self._tasks)
            rows = await self._inbox.claim(free, held=self._held) if free > 0 else []
            for row in rows:
                self._held.add(row.id)
                task = asyncio.create_task(self._handle(row), name=f"inbox-{row.id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if len(rows) < free:  # nothing more is due now: sleep until told or the next poll
                await arrival.wait(self._poll)
            elif len(self._tasks) >= self._concurrency:
                # Every slot busy: wait for one, but look at `request_stop` at least every poll.
                await asyncio.wait(self._tasks, timeout=self._poll, return_when=asyncio.FIRST_COMPLETED)
                await gather_free_slots(self._tasks, self._concurrency)

    async def drain(self, timeout: float) -> None:
        """Let the messages being answered finish for up to `timeout` seconds, then abandon the rest.

        An abandoned message keeps its lease and is answered again after it runs out.
        """
        await _drain(self._tasks, timeout)

    async def _handle(self, row: InboxMessage) -> None:
        key = (row.channel, str(row.conversation_ref.get("chat_id")))
        lock = self._chat_locks.get(key)
        if lock is None:
            lock = self._chat_locks[key] = asyncio.Lock()
        renewal = LeaseKeeper(partial(self._inbox.renew, row.id), self._inbox.lease.total_seconds() / 3)
        async with self._slots, lock, renewal:
            try:
                await self._dispatcher.process(row)
            except LeaseLostError:
                log.warning("inbox %s: lease lost to another worker; leaving it to them", row.id)
            except Exception as exc:
                await self._after_failure(row, exc)
            finally:
                self._held.discard(row.id)
        self._progress.notify()
        # The sender's next message became claimable (one per sender at a time): look at once, but
        # only if one may be waiting (an empty claim is two statements per message).
        if self._inbox.may_have_next(row):
            self._inbox.arrived.notify()

    async def _after_failure(self, row: InboxMessage, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if row.attempts >= self._inbox.max_attempts:
            log.exception("inbox %s failed %s times; giving up", row.id, row.attempts, exc_info=exc)
            with contextlib.suppress(LeaseLostError):  # another worker has it: theirs to finish
                await self._dispatcher.give_up(row, error)
        else:
            delay = backoff_seconds(row.attempts)
            log.warning("inbox %s failed (%s); retrying in %.1fs", row.id, error, delay)
            await self._inbox.retry_later(row.id, error, delay)


class OutboxWorker:
    """Sends due outbox rows through the channels this instance runs.

    Messages to one chat go in the order they were queued (a lock per chat), each channel's
    overall and per-chat rates are kept (`RateLimiter`), and nothing goes to a person who opted
    out or blocked the bot.
    """

    def __init__(
        self,
        outbox: Outbox,
        channels: Mapping[str, Channel],
        progress: Signal,
        *,
        concurrency: int,
        poll_seconds: float = 1.0,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self._outbox = outbox
        self._channels = channels
        self._progress = progress
        self._concurrency = concurrency
        self._poll = poll_seconds
        self.rate_limiter = rate_limiter or RateLimiter()
        self._chat_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    def request_stop(self) -> None:
        """Finish the current round and stop looping."""
        self._stopping = True
        self._outbox.queued.notify()

    async def run(self) -> None:
        """Loop until `request_stop`."""
        while not self._stopping:
            due = self._outbox.queued.watch()
            free = self._concurrency - len(self._tasks)
            rows = await self._outbox.claim(list(self._channels), free) if free > 0 else []
            for row in rows:
                task = asyncio.create_task(self._send(row), name=f"outbox-{row.id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if len(rows) < free:  # nothing more is due now: sleep until told or the next poll
                await due.wait(self._poll)
            elif len(self._tasks) >= self._concurrency:
                # Every slot busy: wait for one, but look at `request_stop` at least every poll.
                await asyncio.wait(self._tasks, timeout=self._poll, return_when=asyncio.FIRST_COMPLETED)
                await gather_free_slots(self._tasks, self._concurrency)

    async def drain(self, timeout: float) -> None:
        """Let the sends in flight finish for up to `timeout` seconds, then abandon the rest."""
        await _drain(self._tasks, timeout)

    async def _send(self, row: OutboxMessage) -> None:
        chat_id = str(row.conversation_ref.get("chat_id"))
        key = (row.channel, chat_id)
        lock = self._chat_locks.get(key)
        if lock is None:
            lock = self._chat_locks[key] = asyncio.Lock()
        # Waiting for the chat's turn and the rate, the send and the settle can outlast a lease (SMS at
        # a segment a second, a busy database): the lease is held until the row is settled.
        async with self._outbox.hold(row) as lease, lock:
            if lease.lost.is_set():
                log.warning("outbox %s: lease lost to another instance before sending; leaving it", row.id)
            else:
                await self._send_in_order(row, chat_id)
        self._progress.notify()
        if row.inbox_id is not None:
            self._outbox.replies_moved.notify(row.inbox_id)

    async def _send_in_order(self, row: OutboxMessage, chat_id: str) -> None:
        channel = self._channels[row.channel]
        refused = await self._outbox.undeliverable_reason(row)
        if refused is not None:
            log.info("outbox %s: not sent on %s: %s", row.id, row.channel, refused)
            await self._outbox.mark_failed(row.id, refused)
            return
        message = to_outgoing(row)
        await self.rate_limiter.acquire(row.channel, chat_id, channel.limits, channel.send_cost(message))
        try:
            result = await channel.send(message)
        except RecipientUnreachableError as exc:
            log.info("outbox %s: recipient unreachable on %s: %s", row.id, row.channel, exc.reason)
            await self._outbox.mark_recipient_unreachable(row, exc.reason, opted_out=exc.opted_out)
        except SendError as exc:
            if exc.permanent:
                log.warning("outbox %s: %s refused the message: %s", row.id, row.channel, exc.reason)
                await self._outbox.mark_failed(row.id, exc.reason)
            else:
                await self._outbox.retry_later(row, exc.reason, exc.retry_after)
        except Exception as exc:  # an adapter bug must not kill the loop; retry like a transient error
            log.exception("outbox %s: unexpected error from %s", row.id, row.channel)
            await self._outbox.retry_later(row, f"{type(exc).__name__}: {exc}", None)
        else:
            await self._outbox.mark_sent(row.id, result.platform_message_id)


async def gather_free_slots(tasks: set[asyncio.Task[None]], concurrency: int) -> None:
    """Once a slot is free, wait a moment longer for half of them (at most `REFILL_WAIT` seconds).

    Work that started together finishes together: claiming for all of it at once shares one claim
    (and, for sends, one recipient check and the settles) between many rows, where claiming the moment
    each slot frees costs those transactions per row. A row waits `REFILL_WAIT` at most, and only while
    every slot was busy.
    """
    refill = max(1, concurrency // 2)
    deadline = asyncio.get_running_loop().time() + REFILL_WAIT
    while tasks and concurrency - len(tasks) < refill:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return
        await asyncio.wait(tasks, timeout=left, return_when=asyncio.FIRST_COMPLETED)


async def _drain(tasks: set[asyncio.Task[None]], timeout: float) -> None:
    if not tasks:
        return
    _, pending = await asyncio.wait(set(tasks), timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
