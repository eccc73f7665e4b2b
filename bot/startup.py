"""The start-up report: which parts are real, which are degraded, and why."""

from __future__ import annotations

import logging

from bot.runtime import Coachline

log = logging.getLogger("coachline")


async def report_startup(service: Coachline) -> None:
    """Log every component's state once at start, and the admin key when it was just made."""
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
