"""The scheduler: APScheduler 3.11 running in the service's event loop.

Jobs hold references (ids), never live clients, so they survive restarts. Program steps are added
by the programs issue; for now it runs the service's housekeeping.
"""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from coaching.status import ComponentStatus


def create_scheduler() -> AsyncIOScheduler:
    """A scheduler in UTC that runs a missed job once, not once per missed run."""
    return AsyncIOScheduler(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )


def scheduler_status(scheduler: AsyncIOScheduler) -> ComponentStatus:
    """Whether the scheduler runs, and how many jobs it holds."""
    if not scheduler.running:
        return ComponentStatus("off", "scheduler not running")
    jobs = scheduler.get_jobs()
    return ComponentStatus("real", f"APScheduler running, {len(jobs)} job(s), in-memory job store")
