"""The start-up report: which parts are real, which are degraded, and why; and what to do first."""

from __future__ import annotations

import logging

from bot.identity import list_creators
from bot.runtime import Coachline

log = logging.getLogger("coachline")

DEMO_HINT = (
    "The twin knows nothing yet: upload the coach's documents at /dashboard, or try the demo coach "
    "(a handbook and the 21-day program): .venv/bin/python run.py serve --demo"
)


async def report_startup(service: Coachline, *, demo: bool = False) -> None:
    """Log every component's state once at start, the admin key when it was just made, and, on a
    fresh install (only the default creator, no documents), how to load the demo."""
    components = await service.health()
    width = max(len(name) for name in components)
    lines = [f"  {name:<{width}}  {c['state']:<8}  {c['detail']}" for name, c in components.items()]
    log.info("Coachline instance %s components:\n%s", service.instance_id, "\n".join(lines))
    if service.admin_api_key_created:
        log.warning(
            "Generated an admin API key (set COACH_API_KEY to choose your own). It is kept in %s:\n    %s",
            service.settings.data_dir / "admin_api_key",
            service.admin_api_key,
        )
    if not demo and await is_fresh_install(service):
        log.info(DEMO_HINT)


async def is_fresh_install(service: Coachline) -> bool:
    """Only the default creator, and it has no documents: nothing to talk about yet."""
    async with service.sessions() as session:
        creators = await list_creators(session)
    if len(creators) != 1 or not creators[0].is_default:
        return False
    return not await service.knowledge.documents(creators[0].id)
