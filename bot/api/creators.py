"""`POST /api/v1/creators` and `GET /api/v1/creators`: the admin manages creators."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from bot.api.deps import Admin, Service
from bot.foundation.api_errors import COMMON_ERRORS
from bot.foundation.api_requests import RequestModel
from bot.identity import create_creator, list_creators

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


class CreatorOut(BaseModel):
    """A creator as listed."""

    creator_id: str
    name: str
    is_default: bool
    created_at: datetime


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CreatedCreatorOut)
async def add_creator(body: CreatorIn, service: Service, _admin: Admin) -> CreatedCreatorOut:
    """Add a creator; the API key and claim code are returned only now."""
    async with service.sessions.begin() as session:
        new = await create_creator(
            session, body.name.strip(), service.now(), claim_code_hours=service.settings.claim_code_hours
        )
    return CreatedCreatorOut(
        creator_id=new.creator.id, name=new.creator.name, api_key=new.api_key, claim_code=new.claim_code
    )


@router.get("", response_model=list[CreatorOut])
async def get_creators(service: Service, _admin: Admin) -> list[CreatorOut]:
    """Every creator."""
    async with service.sessions() as session:
        creators = await list_creators(session)
    return [
        CreatorOut(creator_id=c.id, name=c.name, is_default=c.is_default, created_at=c.created_at)
        for c in creators
    ]
