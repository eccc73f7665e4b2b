"""A busy worker claims for several freed slots at once instead of one claim per finished row."""

from __future__ import annotations

import asyncio

import pytest

from bot import workers
from bot.workers import gather_free_slots


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
