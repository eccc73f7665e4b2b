"""What the programs and broadcasts routers need from the service that mounts them, and nothing more.

The face (`bot.api.engine_routers`) fills this in and builds the routers with `programs_router` and
`broadcasts_router`; the routers never reach for the whole service.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.foundation.api_callers import ActingCreator, CallerDependency
from programs.broadcasts import Broadcaster
from programs.runner import ProgramRunner


@dataclass(frozen=True, slots=True)
class ProgramsApiDeps:
    """The narrow dependencies of the programs and broadcasts routers."""

    sessions: async_sessionmaker[AsyncSession]
    runner: ProgramRunner  # enrols people and runs steps (its `executor` previews one)
    broadcasts: Broadcaster
    now: Callable[[], datetime]
    messaging_channels: Callable[[], Collection[str]]  # the channels a broadcast goes out on
    caller: CallerDependency  # authenticates the request: a `CallerIdentity`, or 401
    acting_creator: ActingCreator
