"""Claiming rows under a lease: how inbox and outbox workers share work across instances safely."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import InboxMessage, OutboxMessage

LeasedRow = TypeVar("LeasedRow", InboxMessage, OutboxMessage)


async def claim_rows(
    sessions: async_sessionmaker[AsyncSession],
    model: type[LeasedRow],
    *,
    claimable: ColumnElement[bool],
    order_by: tuple[Any, ...],
    limit: int,
    status: str,
    instance_id: str,
    lease_until: datetime,
) -> list[LeasedRow]:
    """Mark up to `limit` claimable rows as ours (`status`, `claimed_by`, a lease, one more attempt).

    One statement: `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) AND <claimable> RETURNING`.
    On PostgreSQL instances skip each other's locked rows; the repeated condition makes two processes
    racing on SQLite unable to both win. Rows come back in `order_by` order.
    """
    candidates = (
        select(model.id).where(claimable).order_by(*order_by).limit(limit).with_for_update(skip_locked=True)
    )
    claim = (
        update(model)
        .where(model.id.in_(candidates), claimable)
        .values(
            status=status, claimed_by=instance_id, lease_expires_at=lease_until, attempts=model.attempts + 1
        )
        .returning(model)
        .execution_options(synchronize_session=False)
    )
    async with sessions.begin() as session:
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
    lease_until: datetime,
) -> bool:
    """Extend our lease on a row we are still working on; False if another worker took it."""
    async with sessions.begin() as session:
        result = await session.execute(
            update(model)
            .where(model.id == row_id, model.status == status, model.claimed_by == instance_id)
            .values(lease_expires_at=lease_until)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def keep_lease(renew: Callable[[], Awaitable[bool]], interval: float) -> None:
    """Renew a lease every `interval` seconds until cancelled or the lease is lost."""
    while True:
        await asyncio.sleep(interval)
        if not await renew():
            return
