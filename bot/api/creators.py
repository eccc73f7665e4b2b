"""`POST /api/v1/creators` and `GET /api/v1/creators`: the admin manages creators, and issues a creator
a new claim code or API key."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from bot.api.deps import Admin, AppSettings, Now, Sessions
from bot.foundation.api_errors import COMMON_ERRORS
from bot.foundation.api_requests import RequestModel
from bot.identity import create_creator, list_creators, reissue_claim_code, rotate_api_key

router = APIRouter(prefix="/api/v1/creators", tags=["creators"], responses=COMMON_ERRORS)


class CreatorIn(RequestModel):
    """A new creator."""

    name: str = Field(min_length=1, max_length=200)


class CreatedCreatorOut(BaseModel):
    """A new creator's id and its secrets, shown this once."""

    creator_id: str
    name: str
    api_key: str
    claim_code: str


class ClaimCodeOut(BaseModel):
    """A creator's new claim code, shown this once."""

    creator_id: str
    claim_code: str
    expires_at: datetime


class ApiKeyOut(BaseModel):
    """A creator's new API key, shown this once."""

    creator_id: str
    api_key: str


class CreatorOut(BaseModel):
    """A creator as listed."""

    creator_id: str
    name: str
    is_default: bool
    created_at: datetime


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CreatedCreatorOut)
async def add_creator(
    body: CreatorIn, sessions: Sessions, settings: AppSettings, now: Now, _admin: Admin
) -> CreatedCreatorOut:
    """Add a creator; the API key and claim code are returned only now."""
    async with sessions.begin() as session:
        new = await create_creator(
            session, body.name.strip(), now, claim_code_hours=settings.claim_code_hours
        )
    return CreatedCreatorOut(
        creator_id=new.creator.id, name=new.creator.name, api_key=new.api_key, claim_code=new.claim_code
    )


@router.get("", response_model=list[CreatorOut])
async def get_creators(sessions: Sessions, _admin: Admin) -> list[CreatorOut]:
    """Every creator."""
    async with sessions() as session:
        creators = await list_creators(session)
    return [
        CreatorOut(creator_id=c.id, name=c.name, is_default=c.is_default, created_at=c.created_at)
        for c in creators
    ]


def _no_such_creator(creator_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no creator {creator_id!r}")


@router.post("/{creator_id}/claim-code", response_model=ClaimCodeOut)
async def issue_claim_code(
    creator_id: str, sessions: Sessions, settings: AppSettings, now: Now, _admin: Admin
) -> ClaimCodeOut:
    """A fresh one-time claim code for the creator (the previous one stops working)."""
    async with sessions.begin() as session:
        issued = await reissue_claim_code(
            session, creator_id, now, claim_code_hours=settings.claim_code_hours
        )
    if issued is None:
        raise _no_such_creator(creator_id)
    return ClaimCodeOut(creator_id=creator_id, claim_code=issued.code, expires_at=issued.expires_at)


@router.post("/{creator_id}/api-key", response_model=ApiKeyOut)
async def replace_api_key(creator_id: str, sessions: Sessions, _admin: Admin) -> ApiKeyOut:
    """Replace the creator's API key, e.g. after a leak; the old key is refused from now on."""
    async with sessions.begin() as session:
        api_key = await rotate_api_key(session, creator_id)
    if api_key is None:
        raise _no_such_creator(creator_id)
    return ApiKeyOut(creator_id=creator_id, api_key=api_key)
