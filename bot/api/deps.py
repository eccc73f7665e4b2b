"""Request dependencies: each router asks for the parts it uses, and for who is calling.

The app keeps the running service in `app.state`; only this module reads it, and hands each route the
one part it names (`Sessions`, `Knowledge`, `Personality`, ...). A test can replace any of them with
`app.dependency_overrides[get_knowledge] = ...`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channel_reach import ChannelReach
from bot.foundation.clock import Clock
from bot.foundation.messages import UNSTORABLE, IncomingMessage
from bot.foundation.tables import Creator
from bot.identity import Principal, authenticate
from bot.inbox import Inbox
from bot.replies import ReplyOutcome
from bot.runtime import Coachline
from channels.base import Accepted
from coaching.knowledge import KnowledgeBase
from coaching.personality.service import PersonalityService
from config import Settings
from programs.broadcasts import Broadcaster
from programs.runner import ProgramRunner

_bearer = HTTPBearer(auto_error=False, description="The admin key (COACH_API_KEY) or a creator's key")


def _service(request: Request) -> Coachline:
    """The running service behind this app: read here only, never by a route."""
    service: Coachline = request.app.state.coachline
    return service


def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    """Database sessions."""
    return _service(request).sessions


def get_settings(request: Request) -> Settings:
    """The deployment's settings."""
    return _service(request).settings


def get_clock(request: Request) -> Clock:
    """The service's clock."""
    return _service(request).clock


def get_knowledge(request: Request) -> KnowledgeBase:
    """The creators' documents and search over them."""
    return _service(request).knowledge


def get_personality(request: Request) -> PersonalityService:
    """The creators' personality profiles."""
    return _service(request).personality


def get_programs(request: Request) -> ProgramRunner:
    """The program runner (enrolments, executions)."""
    return _service(request).programs


def get_broadcasts(request: Request) -> Broadcaster:
    """Broadcasts to a creator's audience."""
    return _service(request).broadcasts


def get_reach(request: Request) -> ChannelReach:
    """The channels this instance runs, as the core sees them."""
    return _service(request).reach


def get_health(request: Request) -> Callable[[], Awaitable[dict[str, dict[str, Any]]]]:
    """Every component's state, collected on call."""
    return _service(request).health_report.collect


def get_inbox(request: Request) -> Inbox:
    """The durable inbox (its backlog, for metrics)."""
    return _service(request).inbox


def get_default_creator_id(request: Request) -> str | None:
    """The default creator's id (None until the service has started)."""
    creator = _service(request).default_creator
    return creator.id if creator is not None else None


class Conversations(Protocol):
    """What a chat route needs: hand a message in, wait for its replies, and the limits of both."""

    @property
    def settings(self) -> Settings:
        """`reply_wait_seconds` bounds the wait."""
        ...

    @property
    def inbox(self) -> Inbox:
        """Its sender rate says when to try again."""
        ...

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """Whether a message was set aside is read from the inbox table."""
        ...

    async def receive(self, message: IncomingMessage, *, paced: bool = True) -> Accepted:
        """Persist the message; it is answered in the background."""
        ...

    async def wait_for_replies(self, inbox_id: int, timeout: float) -> ReplyOutcome:
        """Wait until the message is answered and its replies settled, or `timeout` passes."""
        ...


def get_conversations(request: Request) -> Conversations:
    """The message path, for routes that talk with a twin."""
    return _service(request)


Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
AppSettings = Annotated[Settings, Depends(get_settings)]
ServiceClock = Annotated[Clock, Depends(get_clock)]
Knowledge = Annotated[KnowledgeBase, Depends(get_knowledge)]
Personality = Annotated[PersonalityService, Depends(get_personality)]
Programs = Annotated[ProgramRunner, Depends(get_programs)]
Broadcasts = Annotated[Broadcaster, Depends(get_broadcasts)]
Reach = Annotated[ChannelReach, Depends(get_reach)]
Health = Annotated[Callable[[], Awaitable[dict[str, dict[str, Any]]]], Depends(get_health)]
DefaultCreatorId = Annotated[str | None, Depends(get_default_creator_id)]
Chat = Annotated[Conversations, Depends(get_conversations)]


def get_admin_key(request: Request) -> str:
    """The admin key, loaded when the service started."""
    return _service(request).admin_api_key


async def get_principal(
    sessions: Sessions,
    admin_key: Annotated[str, Depends(get_admin_key)],
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
    async with sessions() as session:
        principal = await authenticate(session, credentials.credentials, admin_key)
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


@dataclass(frozen=True, slots=True)
class CreatorChoice:
    """Which creator a call acts for: `await acting(creator_id)` (the id may come from the path, the
    query or the body). The admin may name any creator, a creator's key acts for its own."""

    principal: Principal
    sessions: async_sessionmaker[AsyncSession]
    default_creator_id: str | None

    async def __call__(self, creator_id: str | None) -> str:
        """The creator's id; 404 for none such, 403 for another creator's, 503 before the start."""
        if creator_id is not None and UNSTORABLE.search(creator_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such creator")  # no key can look like that
        if self.principal.is_admin:
            if creator_id is None:
                if self.default_creator_id is None:
                    raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the service is still starting")
                return self.default_creator_id
            async with self.sessions() as session:
                if await session.get(Creator, creator_id) is None:
                    raise HTTPException(status.HTTP_404_NOT_FOUND, f"no creator {creator_id!r}")
            return creator_id
        assert self.principal.creator_id is not None
        if creator_id is not None and creator_id != self.principal.creator_id:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "a creator's key can only act for that creator")
        return self.principal.creator_id


def choose_creator(
    principal: Caller, sessions: Sessions, default_creator_id: DefaultCreatorId
) -> CreatorChoice:
    """The caller's `CreatorChoice`."""
    return CreatorChoice(principal, sessions, default_creator_id)


ActingCreator = Annotated[CreatorChoice, Depends(choose_creator)]


def now(clock: ServiceClock) -> datetime:
    """The service clock's time, for routes that stamp what they create."""
    return clock.now()


Now = Annotated[datetime, Depends(now)]
