"""`POST /api/v1/chat`: talk to a creator's twin as a user of the `web` channel."""

from __future__ import annotations

import hashlib
import math
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from bot.api.deps import ActingCreator, Caller, Chat, Conversations, Now
from bot.foundation.messages import ConversationReference, IncomingMessage
from bot.identity import Principal, creator_scoped_id
from bot.models import InboxMessage
from bot.pacing import SLOW_DOWN
from bot.replies import ReplyOutcome
from channels.web import NAME as WEB

router = APIRouter(prefix="/api/v1", tags=["chat"])


class ChatRequest(BaseModel):
    """A message from a user of the chat API."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(
        min_length=1,
        max_length=190,  # room for the creator scope in a 255-character account id
        description="the user's id on the web channel; a creator's key reaches only its own users "
        "(its 'boss' is not the admin key's 'boss'), and only the admin key speaks as an admin",
    )
    text: str = Field(
        max_length=1_000_000,
        description="the message; empty or overlong text is answered with an explanation",
    )
    creator_id: str | None = Field(
        None, max_length=64, description="whose twin; the default creator if omitted"
    )
    message_id: str | None = Field(
        None, max_length=255, description="optional idempotency key: a repeated id is answered once"
    )


class SourceOut(BaseModel):
    """A piece of material the reply relied on."""

    document: str
    location: str
    relevance_score: float


class ChatResponse(BaseModel):
    """The twin's reply."""

    reply: str
    sources: list[SourceOut]


async def converse(service: Conversations, message: IncomingMessage, *, paced: bool = True) -> ReplyOutcome:
    """Put a message through the inbox and wait for its replies (shared by the API and the page)."""
    accepted = await service.receive(message, paced=paced)
    outcome = None
    if not accepted.throttled:
        outcome = await service.wait_for_replies(accepted.inbox_id, service.settings.reply_wait_seconds)
    if outcome is None or (outcome.finished and not outcome.replies and await set_aside(service, outcome)):
        # Kept but not answered: the caller hears it now (the first of a run also gets SLOW_DOWN
        # in the conversation).
        retry_after = max(1, math.ceil(service.inbox.rate.interval.total_seconds()))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, SLOW_DOWN, headers={"Retry-After": str(retry_after)}
        )
    return outcome


async def set_aside(service: Conversations, outcome: ReplyOutcome) -> bool:
    """Whether the message was set aside over its sender's rate (a repeated id of one, say)."""
    async with service.sessions() as session:
        found = await session.scalar(select(InboxMessage.status).where(InboxMessage.id == outcome.inbox_id))
    return found == "throttled"


def join_replies(outcome: ReplyOutcome) -> dict[str, Any]:
    """The chat API's answer shape from the queued replies."""
    if not outcome.finished and not outcome.replies:
        raise HTTPException(
            status.HTTP_504_GATEWAY_TIMEOUT,
            "the reply is taking longer than expected; it will appear in the conversation when ready",
        )
    sources = [source for row in outcome.replies for source in row.payload.get("sources", [])]
    return {"reply": "\n\n".join(row.text for row in outcome.replies), "sources": sources}


def speaker(principal: Principal, user_id: str) -> str:
    """The web account a caller speaks as: the admin key names any; a creator's key its own users.

    A creator's users are `<creator id>:<user id>`, so no creator key can reach the admin key's
    users (those in COACH_ADMINS among them), another creator's, or the web page's browsers.
    """
    if principal.is_admin:
        return user_id
    assert principal.creator_id is not None
    return creator_scoped_id(principal.creator_id, user_id)


def api_message_id(user_id: str, message_id: str) -> str:
    """The inbox's id for a chat-API message: per user, hashed when it would not fit the column."""
    plain = f"api:{user_id}:{message_id}"
    if len(plain) <= 255:
        return plain
    return "api:sha256:" + hashlib.sha256(f"{user_id}\n{message_id}".encode()).hexdigest()


@router.post("/chat", response_model=ChatResponse)
async def chat(
    body: ChatRequest, service: Chat, principal: Caller, acting: ActingCreator, now: Now
) -> dict[str, Any]:
    """Send a message as `user_id` and get the twin's reply with its sources."""
    creator_id = await acting(body.creator_id)
    user_id = speaker(principal, body.user_id)
    message = IncomingMessage(
        channel=WEB,
        user_id=user_id,
        conversation=ConversationReference(WEB, user_id, creator_id=creator_id),
        # Scoped like the user, so two creators' callers choosing the same ids are never deduped together.
        message_id=api_message_id(user_id, body.message_id or uuid.uuid4().hex),
        text=body.text,
        received_at=now,
    )
    # A caller holding a key is an operator's or a creator's program, not a stranger: it waits for each
    # reply anyway, and is not held to the per-sender rate meant for public senders (the web page's
    # browsers and the platforms' users). Round-robin claiming still keeps it from starving anyone.
    return join_replies(await converse(service, message, paced=False))
