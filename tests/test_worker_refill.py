"""A busy worker claims for several freed slots at once instead of one claim per finished row."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot import workers
from bot.signals import Signal
from bot.workers import InboxWorker, gather_free_slots
from tests.support.waiting import until


async def _until(gate: asyncio.Event) -> None:
    await gate.wait()


async def _busy(concurrency: int) -> tuple[set[asyncio.Task[None]], list[asyncio.Event]]:
    """`concurrency` running tasks, each finishing when its event is set."""
    gates = [asyncio.Event() for _ in range(concurrency)]
    tasks: set[asyncio.Task[None]] = set()
    for gate in gates:
        task = asyncio.create_task(_until(gate))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    return tasks, gates


async def test_a_freed_slot_waits_for_half_of_them_before_claiming(monkeypatch: pytest.MonkeyPatch) -> None:
    # A deadline no test reaches: only the slots freeing can end the wait, however slow the machine.
    monkeypatch.setattr(workers, "REFILL_WAIT", 3600.0)
    tasks, gates = await _busy(4)
    gates[0].set()
    await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)

    gathering = asyncio.create_task(gather_free_slots(tasks, 4))
    for _ in range(10):
        await asyncio.sleep(0)  # let it run: one slot free of four is not yet half
    waited_with_one_free = not gathering.done()
    gates[1].set()
    await gathering

    assert waited_with_one_free
    assert len(tasks) == 2  # two of four free: it claims for both in one go
    for gate in gates:
        gate.set()


async def test_it_never_waits_with_nothing_running() -> None:
    await gather_free_slots(set(), 8)  # returns at once: there is nothing to wait for


class _Row:
    """An inbox row as the worker reads it."""

    def __init__(self, number: int) -> None:
        self.id = number
        self.channel = "web"
        self.conversation_ref = {"chat_id": f"chat-{number}"}  # each its own chat: no lock between them
        self.attempts = 1


class _Inbox:
    """Hands out numbered rows and records how many each claim asked for."""

    def __init__(self, rows: int) -> None:
        self.arrived = Signal()
        self.lease = timedelta(hours=1)
        self.limits: list[int] = []
        self._next = 0
        self._rows = rows

    async def claim(self, limit: int, held: object = ()) -> list[_Row]:
        self.limits.append(limit)
        taken = [_Row(n) for n in range(self._next, min(self._rows, self._next + limit))]
        self._next += len(taken)
        return taken

    async def renew(self, inbox_id: int) -> bool:
        return True

    def may_have_next(self, row: _Row) -> bool:
        return False


class _Dispatcher:
    """Answers a row when the test opens its gate."""

    def __init__(self) -> None:
        self.gates: dict[int, asyncio.Event] = {}
        self.started = Signal()

    async def process(self, row: _Row) -> None:
        gate = self.gates.setdefault(row.id, asyncio.Event())
        self.started.notify()
        await gate.wait()

    def open(self, number: int) -> None:
        self.gates.setdefault(number, asyncio.Event()).set()


async def test_a_busy_inbox_worker_claims_for_half_its_slots_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "REFILL_WAIT", 3600.0)  # only slots freeing can end the wait
    inbox, dispatcher = _Inbox(rows=100), _Dispatcher()
    worker = InboxWorker(inbox, dispatcher, Signal(), concurrency=4, poll_seconds=3600)  # type: ignore[arg-type]
    running = asyncio.create_task(worker.run())
    await until(lambda: len(dispatcher.gates) == 4, "all four slots busy")

    dispatcher.open(0)
    for _ in range(10):
        await asyncio.sleep(0)  # let it run: one free slot of four does not make it claim
    claims_with_one_free = len(inbox.limits)
    dispatcher.open(1)
    await until(lambda: len(inbox.limits) == 2, "a second claim")

    worker.request_stop()
    for number in range(100):
        dispatcher.open(number)
    await running

    assert claims_with_one_free == 1
    assert inbox.limits[:2] == [4, 2]  # one claim for both freed slots, not one per slot
