"""Routes of the web chat page: the page at `/` and each creator's shareable page at `/c/<creator_id>`,
sending a message, and reading the transcript."""

from __future__ import annotations

import secrets
import uuid
from html import escape
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.api.chat import ChatResponse, converse, join_replies
from bot.api.deps import Chat, DefaultCreatorId, Knowledge, Now, Sessions
from bot.foundation.messages import ConversationReference, IncomingMessage
from bot.foundation.tables import ChannelAccount, Conversation, Creator
from bot.models import HistoryMessage
from channels.web import NAME as WEB
from coaching.knowledge import KnowledgeBase

router = APIRouter(tags=["web chat"])

_PAGE = files("bot.web").joinpath("index.html").read_text(encoding="utf-8")
DEMO_COMMAND = ".venv/bin/python run.py serve --demo"


class PageMessage(BaseModel):
    """A message typed on a chat page; `creator_id` is the creator whose page it is."""

    text: str = Field(max_length=1_000_000)
    creator_id: str | None = Field(default=None, max_length=64)


def browser_user(request: Request) -> str:
    """This browser's user id on the `web` channel, made at its first visit."""
    user_id = request.session.get("web_user")
    if not isinstance(user_id, str):
        user_id = f"browser-{uuid.uuid4().hex[:16]}"
        request.session["web_user"] = user_id
    return user_id


def home_creator_id(request: Request, default_creator_id: DefaultCreatorId) -> str | None:
    """Whose twin `/` talks to: the demo creator when serving with `--demo`, else the default one."""
    chosen = getattr(request.app.state, "home_creator_id", None)
    if isinstance(chosen, str):
        return chosen
    return default_creator_id


HomeCreatorId = Annotated[str | None, Depends(home_creator_id)]


async def _creator(sessions: async_sessionmaker[AsyncSession], creator_id: str | None) -> Creator:
    if creator_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no creator yet")
    async with sessions() as session:
        creator = await session.get(Creator, creator_id)
    if creator is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no creator {creator_id!r}")
    return creator


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page(
    request: Request, sessions: Sessions, knowledge: Knowledge, home: HomeCreatorId
) -> HTMLResponse:
    """The chat page of the home creator (every asset inline: it works offline)."""
    return await _page(request, sessions, knowledge, await _creator(sessions, home))


@router.get("/c/{creator_id}", response_class=HTMLResponse, include_in_schema=False)
async def creator_page(
    creator_id: str, request: Request, sessions: Sessions, knowledge: Knowledge
) -> HTMLResponse:
    """A creator's shareable chat page: the same page, talking to that creator's twin."""
    return await _page(request, sessions, knowledge, await _creator(sessions, creator_id))


async def _page(
    request: Request, sessions: async_sessionmaker[AsyncSession], knowledge: KnowledgeBase, creator: Creator
) -> HTMLResponse:
    browser_user(request)
    documents = await knowledge.documents(creator.id)
    nonce = secrets.token_urlsafe(12)
    values = {
        "creator_name": escape(creator.name),
        "creator_id": escape(creator.id),
        "share_url": escape(str(request.url_for("creator_page", creator_id=creator.id))),
        "knowledge": await _knowledge_html(sessions, creator, [document.title for document in documents]),
        "nonce": nonce,
    }
    html = _PAGE
    for name, value in values.items():
        html = html.replace("{{" + name + "}}", value)
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _knowledge_html(
    sessions: async_sessionmaker[AsyncSession], creator: Creator, titles: list[str]
) -> str:
    """What the twin knows (its documents' titles), or what to do when it knows nothing yet."""
    name = escape(creator.name)
    if titles:
        items = "".join(f"<li>{escape(title)}</li>" for title in titles[:12])
        more = f"<li>… and {len(titles) - 12} more</li>" if len(titles) > 12 else ""
        return (
            f"<p>I answer from {name}'s own materials and show where each answer comes from. I know:</p>"
            f'<ul class="titles">{items}{more}</ul>'
            "<p>Ask me anything about them, or type /help for commands.</p>"
        )
    from bot.demo import DEMO_CREATOR_ID  # here: bot.demo pulls in the program importer

    demo = None
    if creator.id != DEMO_CREATOR_ID:
        async with sessions() as session:
            demo = await session.get(Creator, DEMO_CREATOR_ID)
    try_demo = (
        f'Meanwhile, <a href="/c/{DEMO_CREATOR_ID}">talk to the demo coach, {escape(demo.name)}</a>, who has a handbook.'
        if demo is not None
        else f"To see a twin that knows something, start the service with <code>{DEMO_COMMAND}</code>."
    )
    return (
        f"<p>I don't know anything yet: {name} hasn't uploaded any documents. "
        f'If you are {name}, open the <a href="/dashboard">dashboard</a> and upload your guides, notes '
        "or PDFs, and I'll answer from them with sources.</p>"
        f"<p>{try_demo}</p>"
    )


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    """No icon: an empty answer rather than a 404 in every browser console."""
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/web/messages", response_model=ChatResponse)
async def send_from_page(
    body: PageMessage, request: Request, service: Chat, sessions: Sessions, home: HomeCreatorId, now: Now
) -> dict[str, Any]:
    """Send a message from this browser to the page's creator and wait for the reply.

    Only JSON bodies are parsed (FastAPI refuses others with 422); a cross-site form cannot send JSON
    without a preflight, which is what keeps other sites from posting as this browser.
    """
    user_id = browser_user(request)
    creator = await _creator(sessions, body.creator_id or home)
    message = IncomingMessage(
        channel=WEB,
        user_id=user_id,
        conversation=ConversationReference(WEB, user_id, creator_id=creator.id),
        message_id=f"page:{user_id}:{uuid.uuid4().hex}",
        text=body.text,
        received_at=now,
    )
    return join_replies(await converse(service, message))


@router.get("/web/messages")
async def transcript(
    request: Request, sessions: Sessions, home: HomeCreatorId, creator_id: str | None = None
) -> dict[str, Any]:
    """The last messages of this browser's conversation with a creator, for reloading the page."""
    user_id = browser_user(request)
    creator = await _creator(sessions, creator_id or home)
    async with sessions() as session:
        account = await session.scalar(
            select(ChannelAccount).where(ChannelAccount.channel == WEB, ChannelAccount.external_id == user_id)
        )
        if account is None:
            return {"messages": []}
        rows = await session.scalars(
            select(HistoryMessage)
            .join(Conversation, Conversation.id == HistoryMessage.conversation_id)
            .where(
                Conversation.user_id == account.user_id,
                Conversation.channel == WEB,
                Conversation.creator_id == creator.id,
            )
            .order_by(HistoryMessage.id.desc())
            .limit(50)
        )
        messages = [{"role": item.role, "text": item.text, "sources": item.sources} for item in rows]
    return {"messages": list(reversed(messages))}
