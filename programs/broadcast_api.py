"""`/api/v1/creators/broadcasts`: send one message to a creator's audience, and follow its progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from bot.foundation.api_callers import CallerIdentity
from bot.foundation.api_errors import COMMON_ERRORS
from bot.foundation.api_requests import RequestModel
from programs.api_deps import ProgramsApiDeps
from programs.broadcasts import Audience, BroadcastError
from programs.models import Broadcast, Program


class BroadcastReportOut(BaseModel):
    """A broadcast and what came of it; i16a's reconciliation may add fields beside these."""

    model_config = ConfigDict(extra="allow")

    broadcast_id: str
    creator_id: str
    text: str
    audience: dict[str, Any]
    status: str
    recipients: int
    sent: int
    failed: int
    opted_out: int
    blocked: int
    queued: int
    by_channel: dict[str, dict[str, int]]
    skipped_channels: dict[str, Any]
    created_at: datetime


class BroadcastListOut(BaseModel):
    """The creator's broadcasts, newest first."""

    broadcasts: list[BroadcastReportOut]


class BroadcastIn(RequestModel):
    """The message and its audience: everyone (default), a `tag`, or a `program_id`'s enrolments."""

    text: str = Field(min_length=1, max_length=4000)
    tag: str | None = None
    program_id: str | None = None
    creator_id: str | None = None


def broadcasts_router(deps: ProgramsApiDeps) -> APIRouter:
    """The `/api/v1/creators/broadcasts` routes, on the dependencies the face gives."""
    router = APIRouter(prefix="/api/v1/creators/broadcasts", tags=["broadcasts"], responses=COMMON_ERRORS)

    @router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=BroadcastReportOut)
    async def create_broadcast(
        body: BroadcastIn, principal: CallerIdentity = Depends(deps.caller)
    ) -> dict[str, Any]:
        """Queue the message for everyone in the audience; the report follows its delivery."""
        creator_id = await deps.acting_creator(principal, body.creator_id)
        if body.tag and body.program_id:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give a tag or a program_id, not both")
        audience = Audience("all")
        if body.tag:
            audience = Audience("tag", body.tag)
        elif body.program_id:
            async with deps.sessions() as session:
                program = await session.get(Program, body.program_id)
            if program is None or program.creator_id != creator_id:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "program not found")
            audience = Audience("program", body.program_id)
        try:
            broadcast = await deps.broadcasts.create(
                creator_id, body.text, audience, deps.messaging_channels(), created_by="api"
            )
        except BroadcastError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        report = await deps.broadcasts.report(broadcast.id)
        assert report is not None
        return report

    @router.get("", response_model=BroadcastListOut)
    async def list_broadcasts(
        principal: CallerIdentity = Depends(deps.caller), creator_id: str | None = Query(None)
    ) -> dict[str, Any]:
        """The creator's broadcasts, newest first, with their reports."""
        creator = await deps.acting_creator(principal, creator_id)
        async with deps.sessions() as session:
            ids = list(
                await session.scalars(
                    select(Broadcast.id)
                    .where(Broadcast.creator_id == creator)
                    .order_by(Broadcast.created_at.desc())
                )
            )
        reports = [await deps.broadcasts.report(broadcast_id) for broadcast_id in ids]
        return {"broadcasts": [report for report in reports if report is not None]}

    @router.get("/{broadcast_id}", response_model=BroadcastReportOut)
    async def broadcast_report(
        broadcast_id: str, principal: CallerIdentity = Depends(deps.caller)
    ) -> dict[str, Any]:
        """Progress and the final report: sent, failed, opted out, blocked, still queued."""
        report = await deps.broadcasts.report(
            broadcast_id, None if principal.is_admin else principal.creator_id
        )
        if report is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "broadcast not found")
        return report

    return router
