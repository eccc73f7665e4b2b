"""The key and the body's size are checked before a body is read: 401 and 413 cost no buffering."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message

from bot.api.guard import RequestGuard
from bot.app import create_app
from bot.runtime import Coachline
from tests.conftest import ADMIN_KEY
from tests.support.asgi_server import serve_asgi

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
LIMIT = 64 * 1024


class Probe:
    """An ASGI exchange: a body offered in chunks, and what came back."""

    def __init__(self, chunks: int, chunk_size: int = 16 * 1024) -> None:
        self.chunks, self.chunk_size = chunks, chunk_size
        self.received = 0  # chunks the application pulled
        self.status: int | None = None
        self.body = b""

    async def receive(self) -> Message:
        self.received += 1
        more = self.received < self.chunks
        return {"type": "http.request", "body": b"x" * self.chunk_size, "more_body": more}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


def downstream() -> tuple[FastAPI, list[str]]:
    """An app that parses JSON bodies (as every route does) and notes each call."""
    app, calls = FastAPI(), []

    @app.post("/api/v1/echo")
    @app.post("/webhooks/telegram")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        calls.append("called")
        return body

    return app, calls


async def valid_keys(key: str) -> bool:
    return key == "good"


def scope(path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
    }


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"content-length": str(200 * 1024 * 1024)}, "missing API key"),
        ({"authorization": "Bearer wrong", "content-length": str(200 * 1024 * 1024)}, "invalid API key"),
        ({"authorization": "Basic good", "content-length": "10"}, "missing API key"),
    ],
)
async def test_no_valid_key_is_401_without_reading_a_byte(headers: dict[str, str], expected: str) -> None:
    app, calls = downstream()
    guard = RequestGuard(app, key_is_valid=valid_keys, body_limit=LIMIT, upload_limit=LIMIT)
    probe = Probe(chunks=12_800)  # 200 MB offered

    await guard(scope("/api/v1/echo", headers), probe.receive, probe.send)

    assert probe.status == 401
    assert expected in json.loads(probe.body)["detail"]
    assert probe.received == 0 and calls == []


async def test_a_declared_length_over_the_limit_is_413_without_reading() -> None:
    app, calls = downstream()
    guard = RequestGuard(app, key_is_valid=valid_keys, body_limit=LIMIT, upload_limit=LIMIT)
    probe = Probe(chunks=100)
    headers = {"authorization": "Bearer good", "content-length": str(LIMIT + 1)}

    await guard(scope("/api/v1/echo", headers), probe.receive, probe.send)

    assert (probe.status, probe.received, calls) == (413, 0, [])


async def test_a_chunked_body_is_stopped_at_the_limit() -> None:
    app, calls = downstream()
    guard = RequestGuard(app, key_is_valid=valid_keys, body_limit=LIMIT, upload_limit=LIMIT)
    probe = Probe(chunks=12_800)  # no Content-Length: 200 MB in 16 KB chunks

    await guard(scope("/api/v1/echo", {"authorization": "Bearer good"}), probe.receive, probe.send)

    assert probe.status == 413
    assert probe.received == LIMIT // probe.chunk_size + 1  # one chunk past the limit, then no more
    assert calls == []


async def test_webhooks_need_no_key_but_keep_the_size_limit() -> None:
    app, calls = downstream()
    guard = RequestGuard(app, key_is_valid=valid_keys, body_limit=LIMIT, upload_limit=LIMIT)
    body = b'{"update_id": 1}'
    small, large = Probe(chunks=1), Probe(chunks=1)

    async def one_body() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    headers = {"content-type": "application/json", "content-length": str(len(body))}
    await guard(scope("/webhooks/telegram", headers), one_body, small.send)
    await guard(scope("/webhooks/telegram", {"content-length": str(LIMIT + 1)}), large.receive, large.send)

    assert (small.status, calls) == (200, ["called"])
    assert large.status == 413


@pytest.fixture
async def api(make_service: Callable[..., Coachline]) -> AsyncIterator[httpx.AsyncClient]:
    service = make_service(max_body_mb=0.05, max_upload_mb=0.2)  # about 52 KB and 210 KB
    async with serve_asgi(create_app(service)) as url, httpx.AsyncClient(base_url=url, timeout=15) as client:
        yield client


async def test_the_served_app_checks_the_key_before_the_body(api: httpx.AsyncClient) -> None:
    malformed = '{"text": "' + "x" * 40_000 + '"}'  # no user_id: 422 if it were parsed first

    response = await api.post("/api/v1/chat", content=malformed, headers={"Content-Type": "application/json"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_the_served_app_refuses_a_large_body_but_takes_an_upload_of_that_size(
    api: httpx.AsyncClient,
) -> None:
    text = "Sleep is the foundation of every habit. " * 2_000  # 80 KB: over the body limit

    chat = await api.post("/api/v1/chat", json={"user_id": "a", "text": text}, headers=ADMIN)
    upload = await api.post(
        "/api/v1/creators/knowledge/upload",
        files={"file": ("sleep.txt", text.encode(), "text/plain")},
        headers=ADMIN,
    )

    assert chat.status_code == 413
    assert upload.status_code == 201, upload.text
