"""Claiming rows under a lease: how inbox and outbox workers share work across instances safely.

A lease is only as good as its renewal. Times are taken once the statement has its connection, not
before waiting for one: on a busy database a lease computed before the wait could be written already
expired. `LeaseKeeper` renews at a third of the lease, so a renewal may wait two thirds of a lease
for the database and still land in time, and survives a failed renewal (retrying sooner) instead of
dying quietly and letting the lease run out under a holder that is still working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Protocol, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped

log = logging.getLogger(__name__)


class LeasedTable(Protocol):
    """A table whose rows are claimed under a lease (the inbox, the outbox): the columns leasing uses.

    Class variables, because leasing builds statements on the mapped class, not on loaded rows.
    """

    id: ClassVar[Mapped[int]]
    status: ClassVar[Mapped[str]]
    attempts: ClassVar[Mapped[int]]
    claimed_by: ClassVar[Mapped[str | None]]
    lease_expires_at: ClassVar[Mapped[datetime | None]]


LeasedRow = TypeVar("LeasedRow", bound=LeasedTable)
Wait = Callable[[float], Awaitable[None]]  # waits about that many seconds (asyncio.sleep; tests tick it)


def _value(item: Any) -> Any:
    """A value, or what a zero-argument callable returns now."""
    return item() if callable(item) else item


async def claim_rows(
    sessions: async_sessionmaker[AsyncSession],
    model: type[LeasedRow],
    *,
    claimable: ColumnElement[bool] | Callable[[], ColumnElement[bool]],
    order_by: tuple[Any, ...],
    limit: int,
    status: str,
    instance_id: str,
    lease_until: datetime | Callable[[], datetime],
) -> list[LeasedRow]:
    """Mark up to `limit` claimable rows as ours (`status`, `claimed_by`, a lease, one more attempt).

    One statement: `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) AND <claimable> RETURNING`.
    On PostgreSQL instances skip each other's locked rows; the repeated condition makes two processes
    racing on SQLite unable to both win. Rows come back in `order_by` order. `claimable` and
    `lease_until` may be callables: they are then evaluated once the connection is ours.
    """
    async with sessions.begin() as session:
        await session.connection()  # wait for the connection first, then read the clock
        condition: ColumnElement[bool] = _value(claimable)
        candidates = (
            select(model.id)
            .where(condition)
            .order_by(*order_by)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(model)
            .where(model.id.in_(candidates), condition)
            .values(
                status=status,
                claimed_by=instance_id,
                lease_expires_at=_value(lease_until),
                attempts=model.attempts + 1,
            )
            .returning(model)
            .execution_options(synchronize_session=False)
        )
        rows = list(await session.scalars(claim))
    keys = [column.key for column in order_by]
    return sorted(rows, key=lambda row: tuple(getattr(row, key) for key in keys))


async def renew_lease(
    sessions: async_sessionmaker[AsyncSession],
    model: type[LeasedRow],
    row_id: int,
    *,
    status: str,
    instance_id: str,
    lease_until: datetime | Callable[[], datetime],
) -> bool:
    """Extend our lease on a row we are still working on; False if another worker took it."""
    async with sessions.begin() as session:
        await session.connection()  # the new expiry counts from when the statement can run
        result = await session.execute(
            update(model)
            .where(model.id == row_id, model.status == status, model.claimed_by == instance_id)
            .values(lease_expires_at=_value(lease_until))
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


class LeaseKeeper:
    """Renews one claim's lease every `interval` seconds while its holder works (`async with`).

    `lost` is set when a renewal finds the row taken by someone else; a renewal that fails with an
    error (a busy or briefly unreachable database) is retried after a tenth of the interval, so one
    bad moment does not let the lease run out while the holder is alive. `wait` replaces the real
    clock's waits (a test's ticks); without it the keeper waits on the event loop's clock.
    """

    def __init__(
        self, renew: Callable[[], Awaitable[bool]], interval: float, *, wait: Wait | None = None
    ) -> None:
        self._renew = renew
        self._interval = interval
        self._wait = wait
        self.lost = asyncio.Event()
        self.renewals = 0
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> LeaseKeeper:
        if self._wait is None:
            # On the real clock the first renewal is a timer, and the task starts only when it fires:
            # most claims are settled long before, and a task per claim cost more than its work.
            self._timer = asyncio.get_running_loop().call_later(self._interval, self._start)
        else:
            self._task = asyncio.create_task(self._run(self._wait), name="lease-keeper")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _start(self) -> None:
        self._timer = None
        self._task = asyncio.create_task(self._run(asyncio.sleep, waited=True), name="lease-keeper")

    async def _run(self, wait: Wait, *, waited: bool = False) -> None:
        delay = self._interval
        while True:
            if not waited:
                await wait(delay)
            waited = False
            try:
                held = await self._renew()
            except Exception:
                log.warning("lease renewal failed; retrying soon", exc_info=True)
                delay = self._interval / 10
                continue
            if not held:
                self.lost.set()
                return
            self.renewals += 1
            delay = self._interval
