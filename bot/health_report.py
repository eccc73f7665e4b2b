"""Every component's state ("real", "degraded" or "off") and why: `/health/integration`, `/stats`, start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.inbox import Inbox, inbox_status
from channels.base import Channel
from coaching.generation import Generator
from coaching.knowledge import KnowledgeBase
from coaching.status import ComponentStatus
from config import Settings
from programs.scheduler import ProgramSchedule, scheduler_status


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthReport:
    """Asks each part how it is; the parts are handed in, nothing is built here."""

    settings: Settings
    engine: AsyncEngine
    knowledge: KnowledgeBase
    generator: Generator
    scheduler: AsyncIOScheduler
    program_schedule: ProgramSchedule
    inbox: Inbox
    channels: Mapping[str, Channel]

    async def collect(self) -> dict[str, dict[str, Any]]:
        """Every component's state and its detail, channels last."""
        vector_store, embeddings = await self.knowledge.status()
        components: dict[str, ComponentStatus] = {
            "database": await self._database_status(),
            "vector_store": vector_store,
            "embeddings": embeddings,
            "llm": await self.generator.check(),
            "scheduler": scheduler_status(self.scheduler, self.program_schedule),
            "inbox": inbox_status(await self.inbox.waiting(), self.settings.inbox_lag_degraded_seconds),
        }
        report: dict[str, dict[str, Any]] = {
            name: {"state": status.state, "detail": status.detail} for name, status in components.items()
        }
        report["llm"]["first_token_fallbacks"] = getattr(self.generator, "first_token_fallbacks", 0)
        for name, channel in self.channels.items():
            channel_status = channel.status()
            report[f"channel:{name}"] = {"state": channel_status.state, "detail": channel_status.detail}
        return report

    async def _database_status(self) -> ComponentStatus:
        kind = "SQLite" if self.settings.is_sqlite else "PostgreSQL"
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:
            return ComponentStatus("degraded", f"{kind} did not answer: {type(exc).__name__}: {exc}")
        where = self.engine.url.database if self.settings.is_sqlite else self.engine.url.host
        return ComponentStatus("real", f"{kind} ({where})")
