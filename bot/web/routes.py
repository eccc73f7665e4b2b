"""Routes of the web chat page: the page itself, sending a message, and reading the transcript."""

from __future__ import annotations

import secrets
import uuid
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from bot.api.chat import ChatResponse, converse, join_replies
from bot.api.deps import Service
from bot.models import ChannelAccount, Conversation, HistoryMessage
from channels.messages import ConversationReference, IncomingMessage

router = APIRouter(tags=["web chat"])

_PAGE = files("bot.web").joinpath("index.html").read_text(encoding="utf-8")


class PageMessage(BaseModel):
    """A message typed on the page."""

    text: str = Field(max_length=1_000_000)


def browser_user(request: Request) -> str:
    """This browser's user id on the `web` channel, made at its first visit."""
    user_id = request.session.get("web_user")
    if not isinstance(user_id, str):
        user_id = f"browser-{uuid.uuid4().hex[:16]}"
        request.session["web_user"] = user_id
    return user_id


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, service: Service) -> HTMLResponse:
    """The chat page (every asset inline: it works offline)."""
    browser_user(request)
    name = service.default_creator.name if service.default_creator else "Coach"
    nonce = secrets.token_urlsafe(12)
    html = _PAGE.replace("{{creator_name}}", _escape(name)).replace("{{nonce}}", nonce)
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    """No icon: an empty answer rather than a 404 in every browser console."""
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/web/messages", response_model=ChatResponse)
async def send_from_page(body: PageMessage, request: Request, service: Service) -> dict[str, Any]:
    """Send a message from this browser and wait for the reply.

    Only JSON bodies are parsed (FastAPI refuses others with 422); a cross-site form cannot send JSON
    without a preflight, which is what keeps other sites from posting as this browser.
    """
    user_id = browser_user(request)
    message = IncomingMessage(
        channel="web",
        user_id=user_id,
        conversation=ConversationReference("web", user_id),
        message_id=f"page:{user_id}:{uuid.uuid4().hex}",
        text=body.text,
        received_at=service.now(),
    )
    return join_replies(await converse(service, message))


@router.get("/web/messages")
async def transcript(request: Request, service: Service) -> dict[str, Any]:
    """The last messages of this browser's conversation, for reloading the page."""
    user_id = browser_user(request)
    async with service.sessions() as session:
        account = await session.scalar(
            select(ChannelAccount).where(
                ChannelAccount.channel == "web", ChannelAccount.external_id == user_id
            )
        )
        if account is None:
            return {"messages": []}
        rows = await session.scalars(
            select(HistoryMessage)
            .join(Conversation, Conversation.id == HistoryMessage.conversation_id)
            .where(Conversation.user_id == account.user_id, Conversation.channel == "web")
            .order_by(HistoryMessage.id.desc())
            .limit(50)
        )
        messages = [{"role": item.role, "text": item.text, "sources": item.sources} for item in rows]
    return {"messages": list(reversed(messages))}


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
