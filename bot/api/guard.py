"""Checks made before a request's body is read: the API key (for `/api/...`) and the body's size.

FastAPI reads and parses a body before any dependency runs, so a key checked in a dependency
comes too late: a 200 MB body with no key would be buffered and parsed first. This pure ASGI
middleware answers 401 without touching the body, 413 when the declared `Content-Length` is over
the limit, and counts a streamed (chunked) body as it arrives, stopping it at the limit. Webhooks
carry no key (their signatures are checked by their channel) but keep the size limit; multipart
uploads get `COACH_MAX_UPLOAD_MB` plus room for the form around the file.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, status
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KeyCheck = Callable[[str], Awaitable[bool]]

PROTECTED_PREFIX = "/api/"
# The multipart envelope around an uploaded file: boundaries, part headers, the other form fields.
FORM_OVERHEAD_BYTES = 1024 * 1024
MISSING_KEY = "missing API key: send 'Authorization: Bearer <key>'"
INVALID_KEY = "invalid API key"


class RequestGuard:
    """Authenticates `/api/...` requests and limits body sizes before the application reads a byte."""

    def __init__(self, app: ASGIApp, *, key_is_valid: KeyCheck, body_limit: int, upload_limit: int) -> None:
        self.app = app
        self._key_is_valid = key_is_valid
        self._body_limit = body_limit
        self._upload_limit = upload_limit + FORM_OVERHEAD_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse early, or pass the request on with its body counted."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if str(scope["path"]).startswith(PROTECTED_PREFIX):
            problem = await self._key_problem(headers.get("authorization"))
            if problem is not None:
                await _refuse(send, status.HTTP_401_UNAUTHORIZED, problem, {"www-authenticate": "Bearer"})
                return
        limit = self._limit(headers.get("content-type", ""))
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _refuse(send, status.HTTP_400_BAD_REQUEST, "Content-Length is not a number")
                return
            if int(declared) > limit:
                await _refuse(send, status.HTTP_413_CONTENT_TOO_LARGE, _too_large(limit))
                return
        await self.app(scope, _counted(receive, limit), send)

    def _limit(self, content_type: str) -> int:
        if content_type.lower().startswith("multipart/form-data"):
            return self._upload_limit
        return self._body_limit

    async def _key_problem(self, authorization: str | None) -> str | None:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return MISSING_KEY
        return None if await self._key_is_valid(key.strip()) else INVALID_KEY


def _counted(receive: Receive, limit: int) -> Receive:
    """`receive`, raising 413 as soon as the body read so far passes `limit` (for chunked bodies)."""
    seen = 0

    async def counting() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                # Raised inside the app's body reading: FastAPI re-raises HTTPException as it is.
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, _too_large(limit))
        return message

    return counting


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit:,} bytes"


async def _refuse(send: Send, code: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # The unread body stays on the connection: close it rather than parse it as the next request.
        (b"connection", b"close"),
        *((name.encode(), value.encode()) for name, value in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": code, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
