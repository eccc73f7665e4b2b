"""`GET /health` (liveness), `GET /health/integration` (every component, real or degraded, and why)
and `GET /metrics` (Prometheus)."""

from __future__ import annotations

from datetime import UTC, datetime
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
    return {
        "status": overall,
        "components": components,
        "integrations": seed_integrations(components),
        "timestamp": datetime.now(UTC).isoformat(),
    }


def seed_integrations(components: dict[str, Any]) -> dict[str, bool]:
    """The integration guide's five checks, each true when every component it rests on is `real`.

    Knowledge rests on the vector store and the embeddings; personality profiles are analysed locally and
    kept in the database; programs need the scheduler and the database; the AI engine is the model (false
    while the offline generator answers instead).
    """

    def real(*names: str) -> bool:
        # A component the report lacks (a part this instance does not run) is not real.
        return all(components.get(name, {}).get("state") == "real" for name in names)

    return {
        "phase1_knowledge": real("vector_store", "embeddings"),
        "phase2_personality": real("database"),
        "phase3_programs": real("scheduler", "database"),
        "ai_engine_connectivity": real("llm"),
        "database_connectivity": real("database"),
    }


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
async def metrics(inbox: Annotated[Inbox, Depends(get_inbox)], sessions: Sessions) -> Response:
    """Inbox lag and backlog, throttled messages and the outbox, in Prometheus's text format."""
    return Response(await render_metrics(inbox, sessions), media_type=CONTENT_TYPE)
