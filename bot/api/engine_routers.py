"""The routers the engines own, built here on the narrow dependencies the face hands them.

`programs.api` and `programs.broadcast_api` never import the face: they receive the session factory,
the runner, the broadcaster, the clock, the messaging channels and the two caller checks, no more.
"""

from __future__ import annotations

from fastapi import APIRouter

from bot.api.deps import acting_creator, get_principal
from bot.foundation.api_callers import CallerIdentity
from bot.identity import Principal
from bot.runtime import Coachline
from programs.api import programs_router
from programs.api_deps import ProgramsApiDeps
from programs.broadcast_api import broadcasts_router


def engine_routers(service: Coachline) -> list[APIRouter]:
    """The programs and broadcasts routers, wired to `service`."""

    async def acting_for(caller: CallerIdentity, creator_id: str | None) -> str:
        principal = Principal(is_admin=caller.is_admin, creator_id=caller.creator_id)
        return await acting_creator(service, principal, creator_id)

    deps = ProgramsApiDeps(
        sessions=service.sessions,
        runner=service.programs,
        broadcasts=service.broadcasts,
        now=service.now,
        messaging_channels=service.messaging_channels,
        caller=get_principal,
        acting_creator=acting_for,
    )
    return [programs_router(deps), broadcasts_router(deps)]
