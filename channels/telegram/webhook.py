"""`POST /webhooks/telegram`: the secret-token check and reading the body as an Update."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_router(handle: Callable[[Request], Awaitable[Response]]) -> APIRouter:
    """The route, answered by `handle`."""
    router = APIRouter()

    @router.post(WEBHOOK_PATH, include_in_schema=False)
    async def telegram_webhook(request: Request) -> Response:
        return await handle(request)

    return router


def secret_matches(request: Request, secret: str) -> bool:
    """Whether the request carries the secret given to setWebhook (compared in constant time)."""
    given = request.headers.get(SECRET_HEADER, "")
    return bool(secret) and hmac.compare_digest(given.encode(), secret.encode())


def read_update(body: bytes) -> dict[str, Any] | None:
    """The body as an Update's JSON, or None when it is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return None
    return data
