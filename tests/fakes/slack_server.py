"""A fake Slack: the Web API methods Coachline calls, file downloads, and Slack's side of a webhook.

Driven by the real `slack_sdk` client (set `SLACK_API_URL` to `fake.api_url`):

    async with run_fake_slack(bot_user_id="UBOT") as slack:
        ...
        assert slack.posts[0]["thread_ts"] == "1595926230.009600"

Methods: `auth.test`, `chat.postMessage`, `files.info`, `users.info` (each checks the bearer token like
Slack: `invalid_auth` otherwise), and `GET /files-pri/...` downloads, which answer Slack's sign-in page
(HTML, 200) to a request without the bot token — what a missing `files:read` scope looks like.
`post_failures` scripts the next `chat.postMessage` calls: `None` lets one through, `(status, error,
headers)` fails it, e.g. `(429, "ratelimited", {"Retry-After": "30"})`. `slack_request_headers` signs a body with the real `SignatureVerifier`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.support.asgi_server import serve_asgi
from tests.support.payloads import slack_message_event, slack_slash_command
from tests.support.shared_fixtures import shared_fixture

SIGN_IN_PAGE = "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to Slack</body></html>"


def load_payload(name: str) -> Any:
    """A real payload from `../shared/fixtures/payloads/slack/` (JSON parsed, form bodies as text).

    Skips the calling test when a clone has no `../shared`; feature tests use `tests.support.payloads`.
    """
    text = shared_fixture("payloads", "slack", name).read_text()
    return json.loads(text) if name.endswith(".json") else text.strip()


def slack_request_headers(
    secret: str,
    body: bytes,
    *,
    content_type: str = "application/json",
    timestamp: int | None = None,
    retry_num: int | None = None,
) -> dict[str, str]:
    """The headers Slack sends with a request: timestamp, `v0=` signature, and retry headers if a retry."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


DM_CHANNEL = "D0DM"


def dm_event(text: str, *, user: str = "U111", ts: str = "1700000001.000100", **event: Any) -> dict[str, Any]:
    """A message event in a direct message with the bot."""
    fields: dict[str, Any] = {"channel": DM_CHANNEL, "channel_type": "im"} | event
    return slack_message_event(text, user=user, ts=ts, **fields)


def coach_command(
    text: str, *, user: str = "W111", channel: str = "C111", trigger: str = "111.111.xxx"
) -> dict[str, str]:
    """The form fields of `/coach <text>`."""
    return slack_slash_command(text, user=user, channel=channel, trigger=trigger)


@dataclass(slots=True)
class FakeFile:
    """A file someone shared: its bytes and what `files.info` says about it."""

    file_id: str
    name: str
    content: bytes
    mimetype: str = "application/octet-stream"
    content_type: str = "application/octet-stream"
    chunked: bool = False  # streamed without a Content-Length, as a CDN may send it


@dataclass(slots=True)
class Call:
    """One Web API call or download the fake received."""

    method: str
    params: dict[str, Any]
    authorization: str | None
    at: float  # time.monotonic() on arrival


@dataclass
class FakeSlack:
    """The fake's workspace, its knobs, and what it received."""

    bot_token: str = "xoxb-test-token"
    team_id: str = "T111"
    enterprise_id: str | None = None
    bot_user_id: str = "UBOT"
    bot_id: str = "BBOT"
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, FakeFile] = field(default_factory=dict)  # by id
    # The next chat.postMessage calls: None lets one through, (status, error, headers) fails it.
    post_failures: list[tuple[int, str, dict[str, str]] | None] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    url: str = ""
    # Socket Mode: the app-level token, envelopes waiting to go out, and the acknowledgements received.
    app_token: str = "xapp-test-token"
    socket_outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    socket_connections: int = 0
    _ts: int = 0

    @property
    def api_url(self) -> str:
        """What `SLACK_API_URL` should be."""
        return f"{self.url}/api/"

    @property
    def posts(self) -> list[dict[str, Any]]:
        """The accepted `chat.postMessage` bodies, oldest first."""
        return [call.params for call in self.calls if call.method == "chat.postMessage:ok"]

    @property
    def post_times(self) -> list[float]:
        """When each accepted post arrived (`time.monotonic()`)."""
        return [call.at for call in self.calls if call.method == "chat.postMessage:ok"]

    def calls_to(self, method: str) -> list[Call]:
        """The calls of one method (`auth.test`, `download`, ...)."""
        return [call for call in self.calls if call.method == method]

    def add_file(self, file: FakeFile) -> dict[str, Any]:
        """Share a file; returns the `files` entry an event carries for it."""
        self.files[file.file_id] = file
        return self.file_object(file)

    def file_object(self, file: FakeFile) -> dict[str, Any]:
        """The file as Slack describes it in events and `files.info`."""
        download = f"{self.url}/files-pri/{self.team_id}-{file.file_id}/download/{file.name}"
        return {
            "id": file.file_id,
            "name": file.name,
            "title": file.name,
            "mimetype": file.mimetype,
            "filetype": file.name.rsplit(".", 1)[-1],
            "size": len(file.content),
            "url_private": f"{self.url}/files-pri/{self.team_id}-{file.file_id}/{file.name}",
            "url_private_download": download,
        }

    def app(self) -> Starlette:
        """The ASGI application."""
        return Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/files-pri/{path:path}", self._download, methods=["GET"]),
                WebSocketRoute("/link", self._socket_mode),
            ]
        )

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        params = await _params(request)
        authorization = request.headers.get("authorization")
        token = (authorization or "").removeprefix("Bearer ").strip() or params.get("token")
        if method == "apps.connections.open":
            self.calls.append(Call(method, params, authorization, time.monotonic()))
            if token != self.app_token:
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            return JSONResponse({"ok": True, "url": self.url.replace("http://", "ws://") + "/link?ticket=t1"})
        if token != self.bot_token:
            self.calls.append(Call(f"{method}:refused", params, authorization, time.monotonic()))
            return JSONResponse({"ok": False, "error": "invalid_auth" if token else "not_authed"})
        failure = self.post_failures.pop(0) if method == "chat.postMessage" and self.post_failures else None
        if failure is not None:
            status, error, headers = failure
            self.calls.append(Call(f"{method}:failed", params, authorization, time.monotonic()))
            return JSONResponse({"ok": False, "error": error}, status_code=status, headers=headers)
        handler = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "files.info": self._files_info,
            "users.info": self._users_info,
        }.get(method)
        if handler is None:
            return JSONResponse({"ok": False, "error": "unknown_method"}, status_code=404)
        self.calls.append(
            Call(
                f"{method}:ok" if method == "chat.postMessage" else method,
                params,
                authorization,
                time.monotonic(),
            )
        )
        return JSONResponse(handler(params))

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://coachline-test.slack.com/",
            "team": "Coachline Test",
            "user": "coachbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
            **({"enterprise_id": self.enterprise_id} if self.enterprise_id else {}),
        }

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        self._ts += 1
        ts = f"1700000000.{self._ts:06d}"
        channel = str(params["channel"])
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "message": {"type": "message", "text": params.get("text"), "user": self.bot_user_id, "ts": ts},
        }

    def _files_info(self, params: dict[str, Any]) -> dict[str, Any]:
        file = self.files.get(str(params.get("file")))
        if file is None:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "file": self.file_object(file)}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    async def _download(self, request: Request) -> Response:
        authorization = request.headers.get("authorization")
        self.calls.append(Call("download", {"path": request.url.path}, authorization, time.monotonic()))
        if authorization != f"Bearer {self.bot_token}":
            return HTMLResponse(SIGN_IN_PAGE)  # Slack's answer to a request it cannot authorise
        file_id = request.path_params["path"].split("/", 1)[0].removeprefix(f"{self.team_id}-")
        file = self.files.get(file_id)
        if file is None:
            return Response("file not found", status_code=404)
        if file.chunked:
            content = file.content

            async def chunks() -> AsyncIterator[bytes]:
                for start in range(0, len(content), 512):
                    yield content[start : start + 512]

            return StreamingResponse(chunks(), media_type=file.content_type)
        return Response(file.content, media_type=file.content_type)

    async def _socket_mode(self, websocket: WebSocket) -> None:
        """Slack's Socket Mode: `hello`, then envelopes from `socket_outbox`; acknowledgements recorded."""
        await websocket.accept()
        self.socket_connections += 1
        await websocket.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A111"}}
        )

        async def pump() -> None:
            while True:
                await websocket.send_json(await self.socket_outbox.get())

        pumping = asyncio.create_task(pump())
        try:
            while True:
                self.socket_acks.append(json.loads(await websocket.receive_text()))
        except WebSocketDisconnect:
            pass
        finally:
            pumping.cancel()
            with suppress(asyncio.CancelledError):
                await pumping


async def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        if raw and content_type.startswith("application/json"):
            params.update(json.loads(raw))
        elif raw:
            params.update(parse_qsl(raw.decode()))
    return params


def slack_user(user_id: str, display_name: str, real_name: str = "") -> dict[str, Any]:
    """A `users.info` user object."""
    return {
        "id": user_id,
        "name": display_name.lower(),
        "real_name": real_name or display_name,
        "profile": {"display_name": display_name, "real_name": real_name or display_name},
    }


@asynccontextmanager
async def run_fake_slack(*, socket_mode: bool = False, **knobs: Any) -> AsyncIterator[FakeSlack]:
    """Serve a `FakeSlack(**knobs)` on a loopback port; yields it with `.url` set.

    `socket_mode=True` serves WebSockets too (Socket Mode's `/link`), which the plain server leaves out.
    """
    fake = FakeSlack(**knobs)
    async with serve_asgi(fake.app(), lifespan="off", websockets=socket_mode) as url:
        fake.url = url
        yield fake
