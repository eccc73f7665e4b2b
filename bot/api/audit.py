"""`GET /api/v1/admin/audit`: the audit log of creator and admin actions taken in chat (admin key)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from bot.api.deps import Admin, Service
from bot.audit import entry_out, recent_entries
from bot.foundation.api_errors import COMMON_ERRORS

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=COMMON_ERRORS)


class AuditEntryOut(BaseModel):
    """Who did what, when, from where."""

    id: int
    at: datetime
    actor: str
    actor_user_id: int | None
    channel: str
    creator_id: str | None
    action: str
    target: str | None
    detail: dict[str, Any]


class AuditLogOut(BaseModel):
    """Audit entries, newest first."""

    entries: list[AuditEntryOut]
    count: int


@router.get("/audit", response_model=AuditLogOut)
async def audit_log(
    service: Service,
    principal: Admin,
    limit: int = Query(100, ge=1, le=1000),
    creator_id: str | None = Query(None, description="only actions for this creator"),
    action: str | None = Query(None, description="only this command, e.g. broadcast"),
    since: datetime | None = Query(None, description="only entries at or after this time (ISO 8601)"),
) -> dict[str, Any]:
    """The newest entries first: who (`actor`, `actor_user_id`), what (`action`, `target`, `detail`),
    when (`at`) and from which `channel`."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a time without a zone is read as UTC
    async with service.sessions() as session:
        entries = await recent_entries(
            session, limit=limit, creator_id=creator_id, action=action, since=since
        )
    return {"entries": [entry_out(entry) for entry in entries], "count": len(entries)}
