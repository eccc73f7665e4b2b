"""The scheduler: APScheduler 3.11 in the service's event loop, with a persistent job store for programs.

Every instance runs its own housekeeping jobs (in memory). Program steps are driven by one job in a
persistent SQLAlchemy job store (a sync driver: a SQLite file beside the data, or psycopg on the
PostgreSQL database), attached only on the instance that holds the scheduler leadership
(`bot/foundation/leader.py`). The job stores a reference (a key naming the deployment), never a client: the
function looks the running service up when it fires, so it survives restarts.

Misfires: the program job coalesces (one run however many were missed) and the engine itself runs a
step that came due during downtime once; a daily or cron step more than `COACH_MISFIRE_GRACE_SECONDS`
late is skipped to its next occurrence instead (yesterday's 08:00 tip is not sent at noon today).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.foundation.leader import LeaderLock
from coaching.status import ComponentStatus

log = logging.getLogger(__name__)

PROGRAM_JOBSTORE = "programs"
PROGRAM_JOB_ID = "program-steps"
LEADERSHIP_RETRY_SECONDS = 15.0

# The running services' step runners by deployment key: what a stored job's reference resolves to.
_RUNNERS: dict[str, list[Callable[[], Awaitable[int]]]] = {}


def create_scheduler() -> AsyncIOScheduler:
    """A scheduler in UTC that runs a missed job once, not once per missed run."""
    return AsyncIOScheduler(
        timezone="UTC",
        jobstores={"default": MemoryJobStore()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )


def job_store_url(database_url: str, data_dir: Path) -> str:
    """The sync URL of the program job store for a deployment's (async) database URL."""
    if database_url.startswith("postgresql+asyncpg://"):
        return "postgresql+psycopg://" + database_url.removeprefix("postgresql+asyncpg://")
    # A file of its own: the job store's sync writes never wait on the app's SQLite write lock.
    return f"sqlite:///{(data_dir / 'jobs.sqlite').resolve()}"


def deployment_key(job_store: str) -> str:
    """A stable name for the deployment a job store belongs to (what stored jobs refer to)."""
    return hashlib.sha256(job_store.encode()).hexdigest()[:16]


async def run_program_steps(key: str) -> None:
    """The stored job: advance every due enrolment, through a live service of this deployment."""
    runners = _RUNNERS.get(key, [])
    if not runners:
        log.warning("program job fired but no service of deployment %s is running here", key)
        return
    advanced = await runners[0]()
    if advanced:
        log.info("program steps: %d enrolment(s) advanced", advanced)


class ProgramSchedule:
    """Leadership, the persistent job store, and the program job, for one instance."""

    def __init__(
        self,
        scheduler: AsyncIOScheduler,
        leader: LeaderLock,
        job_store: str,
        run_due: Callable[[], Awaitable[int]],
        *,
        tick_seconds: float,
        misfire_grace_seconds: float,
    ) -> None:
        self._scheduler = scheduler
        self._leader = leader
        self.job_store = job_store
        self.key = deployment_key(job_store)
        self._run_due = run_due
        self._tick = tick_seconds
        self._grace = misfire_grace_seconds
        self._attached = False
        self._watch: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        """Whether this instance runs the program job."""
        return self._attached

    async def start(self) -> None:
        """Register this service, try to lead, and keep trying in the background."""
        _RUNNERS.setdefault(self.key, []).append(self._run_due)
        await self._try_lead()
        self._watch = asyncio.create_task(self._keep_trying(), name="scheduler-leadership")

    async def stop(self) -> None:
        """Step down and forget this service."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        self._detach()
        await self._leader.release()
        runners = _RUNNERS.get(self.key, [])
        if self._run_due in runners:
            runners.remove(self._run_due)

    async def _keep_trying(self) -> None:
        while True:
            await asyncio.sleep(LEADERSHIP_RETRY_SECONDS)
            try:
                await self._try_lead()
            except Exception:
                log.exception("scheduler leadership check failed")

    async def _try_lead(self) -> None:
        leader = await self._leader.try_acquire()
        if leader and not self._attached:
            self._attach()
            log.info("this instance now runs the program scheduler")
        elif not leader and self._attached:
            self._detach()

    def _attach(self) -> None:
        self._scheduler.add_jobstore(SQLAlchemyJobStore(url=self.job_store), alias=PROGRAM_JOBSTORE)
        self._scheduler.add_job(
            run_program_steps,
            "interval",
            seconds=self._tick,
            args=[self.key],
            id=PROGRAM_JOB_ID,
            jobstore=PROGRAM_JOBSTORE,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(self._grace),
        )
        self._attached = True

    def _detach(self) -> None:
        if self._attached:
            self._attached = False
            with contextlib.suppress(Exception):
                self._scheduler.remove_jobstore(PROGRAM_JOBSTORE, shutdown=True)

    def status(self) -> str:
        """Leader or standby, and where the jobs are kept."""
        store = self.job_store.split("://", 1)[0]
        return f"program scheduler {'leader' if self._attached else 'standby'} (job store {store})"


def scheduler_status(scheduler: AsyncIOScheduler, programs: ProgramSchedule | None = None) -> ComponentStatus:
    """Whether the scheduler runs, how many jobs it holds, and this instance's part in programs."""
    if not scheduler.running:
        return ComponentStatus("off", "scheduler not running")
    jobs = scheduler.get_jobs()
    detail = f"APScheduler running, {len(jobs)} job(s)"
    if programs is not None:
        detail += f"; {programs.status()}"
    return ComponentStatus("real", detail)
