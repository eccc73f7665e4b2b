"""`GET /health` (liveness), `GET /health/integration` (every component, real or degraded, and why)
and `GET /metrics` (Prometheus)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from bot.api.deps import Health, Sessions, get_inbox
from bot.inbox import Inbox
from bot.metrics import CONTENT_TYPE, render_metrics

router = APIRouter(tags=["health"])


@router.get("/health")
async def liveness() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/health/integration")
async def integration(health: Health) -> dict[str, Any]:
    """Each component's state: `real`, `degraded` (a fallback is in use) or `off`, with the reason."""
    components = await health()
    states = {component["state"] for component in components.values()}
    overall = "ok" if states <= {"real", "off"} else "degraded"
    if components["database"]["state"] != "real":
        overall = "down"
    return {"status": overall, "components": components}


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
async def metrics(inbox: Annotated[Inbox, Depends(get_inbox)], sessions: Sessions) -> Response:
    """Inbox lag and backlog, throttled messages and the outbox, in Prometheus's text format."""
    return Response(await render_metrics(inbox, sessions), media_type=CONTENT_TYPE)
