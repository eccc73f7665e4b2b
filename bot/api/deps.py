"""Request dependencies: the running service and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.foundation.messages import UNSTORABLE
from bot.foundation.tables import Creator
from bot.identity import Principal, authenticate
from bot.runtime import Coachline

_bearer = HTTPBearer(auto_error=False, description="The admin key (COACH_API_KEY) or a creator's key")


def get_service(request: Request) -> Coachline:
    """The Coachline instance behind this app."""
    service: Coachline = request.app.state.coachline
    return service


Service = Annotated[Coachline, Depends(get_service)]


async def get_principal(
    service: Service,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Who holds the bearer key; 401 when there is none or it is wrong."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send 'Authorization: Bearer <key>'",
            headers=challenge,
        )
    async with service.sessions() as session:
        principal = await authenticate(session, credentials.credentials, service.admin_api_key)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API key", headers=challenge)
    return principal


Caller = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: Caller) -> Principal:
    """Only the admin key may pass."""
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs the admin key (COACH_API_KEY)")
    return principal


Admin = Annotated[Principal, Depends(require_admin)]


async def acting_creator(service: Coachline, principal: Principal, creator_id: str | None) -> str:
    """The creator a call acts for: the admin may name any, a creator's key acts for its own creator."""
    if creator_id is not None and UNSTORABLE.search(creator_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such creator")  # no key can look like that
    if principal.is_admin:
        if creator_id is None:
            if service.default_creator is None:
                raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the service is still starting")
            return service.default_creator.id
        async with service.sessions() as session:
            if await session.get(Creator, creator_id) is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no creator {creator_id!r}")
        return creator_id
    assert principal.creator_id is not None
    if creator_id is not None and creator_id != principal.creator_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a creator's key can only act for that creator")
    return principal.creator_id
