"""The audit log: every creator and admin action taken in chat — who, what, when, from which channel.

Entries are made in one place, the dispatcher, for every creator or admin command that succeeded
(a refused command, or one that raised `CommandError`, did nothing and leaves no entry). They are
committed in the transaction that answers the message, so a message processed twice is logged once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands import Command, CommandContext
from bot.models import AuditEntry
from bot.roles import Role

MAX_ARGS = 1000


def audit_entry(command: Command, ctx: CommandContext) -> AuditEntry | None:
    """The entry for a command that just ran, or None when it is not audited (open to everyone)."""
    if Role.USER in command.roles and not ctx.audit.wanted:
        return None
    detail: dict[str, Any] = dict(ctx.audit.detail)
    if ctx.audit.args:
        detail.setdefault("args", ctx.audit.args[:MAX_ARGS])
    return AuditEntry(
        at=ctx.now,
        actor_user_id=ctx.sender.user.id,
        actor=f"{ctx.message.channel}:{ctx.message.user_id}"[:300],
        channel=ctx.message.channel,
        creator_id=ctx.audit.creator_id or ctx.sender.creator.id,
        action=command.name,
        target=ctx.audit.target[:300] if ctx.audit.target else None,
        detail=detail,
    )


async def recent_entries(
    session: AsyncSession,
    *,
    limit: int = 100,
    creator_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
) -> list[AuditEntry]:
    """The newest entries first, optionally for one creator, one action, or since a time."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if creator_id is not None:
        query = query.where(AuditEntry.creator_id == creator_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return list(await session.scalars(query))


def entry_out(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the REST API returns it."""
    return {
        "id": entry.id,
        "at": entry.at,
        "actor": entry.actor,
        "actor_user_id": entry.actor_user_id,
        "channel": entry.channel,
        "creator_id": entry.creator_id,
        "action": entry.action,
        "target": entry.target,
        "detail": entry.detail,
    }
