"""A channel written from the recipe in docs/architecture.md, as a third party would: a made-up
"Hookchat" service with signed JSON webhooks and a small REST API. It lives only here (settings,
capabilities, command syntax, adapter, plugin) and is registered in-process the way an installed
entry point would be; the contract suite runs on it like on the built-in channels.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, Request, Response
from pydantic_settings import SettingsConfigDict
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.foundation.messages import ConversationReference, IncomingMessage, OutgoingMessage
from channels.base import (
    Channel,
    ChannelLimits,
    MessageSink,
    PermanentSendError,
    RecipientUnreachableError,
    SendResult,
    TemporarySendError,
)
from channels.plugin import Capabilities, ChannelPlugin, ChannelSettings, CommandSyntax
from config import Settings
from tests.support.asgi_server import serve_asgi

NAME = "hookchat"
WEBHOOK_PATH = "/webhooks/hookchat"
SIGNATURE_HEADER = "X-Hookchat-Signature"
MAX_CHARS = 500
COMMAND_PREFIX = "!"


class HookchatSettings(ChannelSettings):
    """`HOOKCHAT_TOKEN` (sending), `HOOKCHAT_SECRET` (webhook signatures), `HOOKCHAT_API_URL`."""

    model_config = SettingsConfigDict(env_prefix="HOOKCHAT_")
    required = (("token",), ("secret",))

    token: str = ""
    secret: str = ""
    api_url: str = "https://api.hookchat.example"


CAPABILITIES = Capabilities(max_message_chars=MAX_CHARS)


def sign(secret: str, body: bytes) -> str:
    """The webhook signature: hex HMAC-SHA256 of the body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class HookchatChannel(Channel):
    """Hookchat: signed JSON webhooks in, `POST /messages` out."""

    name = NAME
    capabilities = CAPABILITIES

    def __init__(self, own: HookchatSettings) -> None:
        self.own = own
        self.limits = ChannelLimits(per_chat_rate=5.0)
        self._sink: MessageSink | None = None
        self._http: httpx.AsyncClient | None = None

    async def start(self, sink: MessageSink) -> None:
        """Keep the sink; open the API client."""
        self._sink = sink
        self._http = httpx.AsyncClient(base_url=self.own.api_url, timeout=10)

    async def stop(self) -> None:
        """Close the API client."""
        self._sink = None
        if self._http is not None:
            await self._http.aclose()

    def router(self) -> APIRouter:
        """`POST /webhooks/hookchat`."""
        router = APIRouter()
        router.add_api_route(WEBHOOK_PATH, self._webhook, methods=["POST"], include_in_schema=False)
        return router

    async def _webhook(self, request: Request) -> Response:
        body = await request.body()
        if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), sign(self.own.secret, body)):
            return Response("bad signature", status_code=401)
        if self._sink is None:
            return Response("not running", status_code=503)
        event = json.loads(body)
        text = str(event["text"]).strip()
        if text.startswith(COMMAND_PREFIX):  # its command syntax, as the core's "/name args"
            text = "/" + text.removeprefix(COMMAND_PREFIX)
        message = IncomingMessage(
            channel=NAME,
            user_id=str(event["from"]),
            conversation=ConversationReference(NAME, str(event["from"])),
            message_id=str(event["id"]),
            text="/optout" if text.upper() == "UNSUBSCRIBE" else text,
            received_at=datetime.now(UTC),
            raw=event,
        )
        try:
            await self._sink(message)
        except Exception:
            return Response("could not store it; send it again", status_code=500)
        return Response(status_code=204)

    async def send(self, message: OutgoingMessage) -> SendResult:
        """One `POST /messages` a part of at most 500 characters; choices listed in the text."""
        assert self._http is not None
        choices = ", ".join(f"{index}: {button.label}" for index, button in enumerate(message.buttons, 1))
        text = message.text + (f"\n({choices})" if choices else "")
        last = ""
        for start in range(0, len(text), MAX_CHARS):
            response = await self._http.post(
                "/messages",
                json={"to": message.conversation.chat_id, "text": text[start : start + MAX_CHARS]},
                headers={"Authorization": f"Bearer {self.own.token}"},
            )
            if response.status_code == 429:
                raise TemporarySendError(
                    "Hookchat: slow down", retry_after=float(response.headers["Retry-After"])
                )
            if response.status_code == 403:
                raise RecipientUnreachableError("Hookchat: the person blocked the bot")
            if response.status_code >= 400:
                raise PermanentSendError(f"Hookchat refused the message: {response.text}")
            last = str(response.json()["id"])
        return SendResult(platform_message_id=last)

    def send_cost(self, message: OutgoingMessage) -> int:
        """One unit a part."""
        return max(1, -(-len(message.text) // MAX_CHARS))


def _build(settings: Settings, own: HookchatSettings) -> Channel | None:
    return HookchatChannel(own) if own.token and own.secret else None


plugin = ChannelPlugin(
    name=NAME,
    build=_build,
    settings=HookchatSettings,
    capabilities=CAPABILITIES,
    syntax=CommandSyntax(prefix=COMMAND_PREFIX, opted_in="Welcome back. Write UNSUBSCRIBE to stop."),
)


@dataclass
class FakeHookchat:
    """The Hookchat API: accepts messages, refuses on cue."""

    token: str = "hc-token"
    sent: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    def app(self) -> Starlette:
        """`POST /messages`."""
        return Starlette(routes=[Route("/messages", self._messages, methods=["POST"])])

    async def _messages(self, request: StarletteRequest) -> JSONResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        if self.refusals:
            status, headers = self.refusals.pop(0)
            return JSONResponse({"error": "refused"}, status_code=status, headers=headers)
        body = await request.json()
        self.sent.append(body)
        return JSONResponse({"id": f"hc{len(self.sent)}"}, status_code=201)


@asynccontextmanager
async def run_fake_hookchat() -> AsyncIterator[tuple[FakeHookchat, str]]:
    """The fake API on a loopback port, and its URL."""
    fake = FakeHookchat()
    async with serve_asgi(fake.app(), lifespan="off") as url:
        yield fake, url
