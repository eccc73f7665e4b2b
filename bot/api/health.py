"""`GET /health` (liveness) and `GET /health/integration` (every component, real or degraded, and why)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bot.api.deps import Service

router = APIRouter(tags=["health"])


@router.get("/health")
async def liveness() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/health/integration")
async def integration(service: Service) -> dict[str, Any]:
    """Each component's state: `real`, `degraded` (a fallback is in use) or `off`, with the reason."""
    components = await service.health()
    states = {component["state"] for component in components.values()}
    overall = "ok" if states <= {"real", "off"} else "degraded"
    if components["database"]["state"] != "real":
        overall = "down"
    return {"status": overall, "components": components}
