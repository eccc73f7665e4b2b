"""`/api/v1/creators/me` and `/api/v1/creators/audience`: who is calling, and who a creator reaches."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import case, func, select

from bot.api.deps import Caller, Service, acting_creator
from bot.api.errors import COMMON_ERRORS
from bot.foundation.tables import ChannelAccount, Creator, User
from channels.registry import missing_settings
from programs.eligibility import channel_refusal
from programs.models import Enrollment, Program, UserTag

router = APIRouter(prefix="/api/v1/creators", tags=["audience"], responses=COMMON_ERRORS)


class CreatorBriefOut(BaseModel):
    """A creator the caller may act for."""

    creator_id: str
    name: str
    is_default: bool


class MeOut(BaseModel):
    """Who holds the key: the admin (any creator; `creator_id` is the default one) or one creator."""

    is_admin: bool
    creator_id: str | None
    creators: list[CreatorBriefOut]


class ChannelAudienceOut(BaseModel):
    """People on one channel. `reachable` is 0 on a channel this instance cannot send on; then
    `configured` is false and `not_reachable_reason` names the missing settings."""

    channel: str
    accounts: int
    opted_out: int
    blocked: int
    reachable: int
    configured: bool
    missing_settings: list[str]
    not_reachable_reason: str | None


class TagCountOut(BaseModel):
    """How many people have a tag."""

    tag: str
    people: int


class ProgramAudienceOut(BaseModel):
    """Enrolments of one program by status."""

    program_id: str
    title: str
    enrollments: dict[str, int]


class AudienceOut(BaseModel):
    """Whom a creator reaches."""

    creator_id: str
    users: int
    channels: list[ChannelAudienceOut]
    messaging_channels: list[str]
    tags: list[TagCountOut]
    programs: list[ProgramAudienceOut]


@router.get("/me", response_model=MeOut)
async def me(service: Service, principal: Caller) -> dict[str, Any]:
    """The caller: the admin (who may act for any creator) or one creator."""
    async with service.sessions() as session:
        if principal.is_admin:
            creators = list(await session.scalars(select(Creator).order_by(Creator.created_at)))
            default = service.default_creator.id if service.default_creator else None
            return {
                "is_admin": True,
                "creator_id": default,
                "creators": [
                    {"creator_id": c.id, "name": c.name, "is_default": c.is_default} for c in creators
                ],
            }
        assert principal.creator_id is not None
        creator = await session.get_one(Creator, principal.creator_id)
        return {
            "is_admin": False,
            "creator_id": creator.id,
            "creators": [{"creator_id": creator.id, "name": creator.name, "is_default": creator.is_default}],
        }


@router.get("/audience", response_model=AudienceOut)
async def audience(
    service: Service, principal: Caller, creator_id: str | None = Query(None)
) -> dict[str, Any]:
    """People per channel (reachable, opted out, blocked), tags, and enrolments per program."""
    creator = await acting_creator(service, principal, creator_id)
    async with service.sessions() as session:
        rows = (
            await session.execute(
                select(
                    ChannelAccount.channel,
                    func.count(),
                    func.count(ChannelAccount.opted_out_at),
                    func.sum(case((ChannelAccount.reachable.is_(False), 1), else_=0)),
                    func.sum(
                        case(
                            (ChannelAccount.reachable.is_(True) & ChannelAccount.opted_out_at.is_(None), 1),
                            else_=0,
                        )
                    ),
                )
                .join(User, User.id == ChannelAccount.user_id)
                .where(User.creator_id == creator)
                .group_by(ChannelAccount.channel)
            )
        ).all()
        tags = (
            await session.execute(
                select(UserTag.tag, func.count())
                .join(User, User.id == UserTag.user_id)
                .where(User.creator_id == creator)
                .group_by(UserTag.tag)
                .order_by(func.count().desc())
            )
        ).all()
        programs = (
            await session.execute(
                select(Program.id, Program.title, Enrollment.status, func.count(Enrollment.id))
                .join(Enrollment, Enrollment.program_id == Program.id, isouter=True)
                .where(Program.creator_id == creator)
                .group_by(Program.id, Program.title, Enrollment.status)
            )
        ).all()
        users = await session.scalar(select(func.count()).select_from(User).where(User.creator_id == creator))
    per_program: dict[str, dict[str, Any]] = {}
    for program_id, title, status, count in programs:
        entry = per_program.setdefault(
            program_id, {"program_id": program_id, "title": title, "enrollments": {}}
        )
        if status is not None:
            entry["enrollments"][status] = count
    channels = []
    for channel, total, opted_out, blocked, reachable in rows:
        # People on a channel this instance cannot send on are not reachable, whatever their account says.
        refusal = channel_refusal(channel, service.channels)
        channels.append(
            {
                "channel": channel,
                "accounts": total,
                "opted_out": opted_out,
                "blocked": int(blocked or 0),
                "reachable": 0 if refusal else int(reachable or 0),
                "configured": refusal is None,
                "missing_settings": [] if refusal is None else missing_settings(channel),
                "not_reachable_reason": refusal,
            }
        )
    return {
        "creator_id": creator,
        "users": users or 0,
        "channels": channels,
        "messaging_channels": service.messaging_channels(),
        "tags": [{"tag": tag, "people": count} for tag, count in tags],
        "programs": list(per_program.values()),
    }
