"""The running service: the parts `bot.composition.build_service` made, and the order they start and
stop in. Nothing here builds a part; the start step's I/O is `bot.preflight`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.channel_reach import ChannelReach
from bot.commands import CommandRegistry
from bot.dispatcher import Dispatcher
from bot.foundation.clock import Clock
from bot.foundation.messages import Attachment, IncomingMessage
from bot.foundation.tables import Creator
from bot.health_report import HealthReport
from bot.identity import ensure_default_creator
from bot.inbox import Inbox
from bot.outbox import Outbox
from bot.preflight import Preflight, ServiceKeys
from bot.replies import ReplyOutcome, wait_for_replies
from bot.roles import Role
from bot.signals import Signal
from bot.workers import InboxWorker, OutboxWorker
from channels.base import Accepted, Channel
from coaching.generation import Generator
from coaching.knowledge import KnowledgeBase
from coaching.personality.service import PersonalityService
from coaching.responder import Responder
from coaching.twin import CreatorDigitalTwin
from config import Settings
from programs.broadcasts import Broadcaster
from programs.runner import ProgramRunner
from programs.scheduler import ProgramSchedule

log = logging.getLogger(__name__)


@dataclass(kw_only=True, eq=False)
class Coachline:
    """One Coachline instance: its started parts, and `start`/`stop` in their order.

    Build it with `bot.composition.build_service`; `start` runs the start step (`bot.preflight`), whose
    failures are one-line `StartupError`s, then starts channels, workers and the scheduler.
    """

    settings: Settings
    clock: Clock
    instance_id: str
    preflight: Preflight
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    channels: dict[str, Channel]
    reach: ChannelReach
    generator: Generator
    knowledge: KnowledgeBase
    personality: PersonalityService
    responder: Responder
    commands: CommandRegistry
    progress: Signal
    outbox: Outbox
    inbox: Inbox
    programs: ProgramRunner
    broadcasts: Broadcaster
    dispatcher: Dispatcher
    inbox_worker: InboxWorker
    outbox_worker: OutboxWorker
    scheduler: AsyncIOScheduler
    program_schedule: ProgramSchedule
    health_report: HealthReport
    shutdown_grace_seconds: float = 5.0
    freeze_heap_at_start: bool = True
    default_creator: Creator | None = field(default=None, init=False)
    keys: ServiceKeys | None = field(default=None, init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False)

    @property
    def admin_api_key(self) -> str:
        """The admin key (`COACH_API_KEY`, or the one kept in the data dir), known once started."""
        return self._keys().admin_api_key

    @property
    def admin_api_key_created(self) -> bool:
        """Whether this start made the admin key (the start-up report prints it then)."""
        return self._keys().admin_api_key_created

    @property
    def session_secret(self) -> str:
        """The key that signs the web page's session cookie, known once started."""
        return self._keys().session_secret

    def _keys(self) -> ServiceKeys:
        if self.keys is None:
            raise RuntimeError("the service's keys are loaded when it starts")
        return self.keys

    async def prepare(self) -> None:
        """The start step's I/O (data dir, keys, database, vector store), once; `start` runs it too.

        Raises `bot.startup_error.StartupError` (one line) when the machine or a setting is at fault.
        """
        if self.keys is None:
            self.keys = await self.preflight.run()

    async def start(self) -> None:
        """Prepare (see `prepare`), then make the default creator and start channels, workers and the
        scheduler."""
        await self.prepare()
        async with self.sessions.begin() as session:
            self.default_creator = await ensure_default_creator(
                session,
                self.settings.default_creator_name,
                self.clock.now(),
                claim_code_hours=self.settings.claim_code_hours,
            )
        await self.knowledge.recover()
        # Platforms with a command menu (Telegram's setMyCommands) show what every user may run.
        menu = self.commands.menu([Role.USER])
        for channel in self.channels.values():
            channel.delivery_reports = self.outbox.record_delivery
            if channel.capabilities.command_menu:
                channel.set_command_menu(menu)
            await channel.start(self.receive)
        self._tasks = [
            asyncio.create_task(self.inbox_worker.run(), name="inbox-worker"),
            asyncio.create_task(self.outbox_worker.run(), name="outbox-worker"),
        ]
        self.scheduler.start()
        self.scheduler.add_job(self.generator.check, "interval", seconds=60, id="recheck-generator")
        self.scheduler.add_job(self.knowledge.recover, "interval", minutes=5, id="recover-uploads")
        await self.program_schedule.start()
        # A broadcast whose fan-out a crash interrupted is completed (its keys prevent duplicates).
        await self.broadcasts.resume_unfinished()
        if self.freeze_heap_at_start:
            settle_heap()

    async def stop(self) -> None:
        """Stop taking work, let what is in flight finish briefly, then close everything."""
        await self.program_schedule.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.inbox_worker.request_stop()
        self.outbox_worker.request_stop()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=5)
            for task in stuck:  # a claim that hangs: cancelling is the last resort
                log.error("%s did not stop in time; cancelling it", task.get_name())
                task.cancel()
        # Anything still unfinished keeps its lease and is picked up again after a restart.
        await self.inbox_worker.drain(timeout=self.shutdown_grace_seconds)
        await self.outbox_worker.drain(timeout=self.shutdown_grace_seconds)
        # Channels close last, so the replies finishing above still have their clients.
        for channel in self.channels.values():
            with contextlib.suppress(Exception):
                await channel.stop()
        await self.personality.aclose()
        await self.generator.aclose()
        await self.knowledge.embedder.aclose()
        await self.knowledge.store.aclose()
        await self.inbox.statistics.stop()
        await self.engine.dispose()

    def messaging_channels(self) -> list[str]:
        """The channels this instance sends to that reach people by themselves (not the local ones)."""
        return self.reach.messaging_channels()

    async def fetch_attachment(self, channel: str, attachment: Attachment) -> bytes:
        """An attachment's bytes, fetched by the channel it came through (with its credentials)."""
        return await self.reach.fetch_attachment(channel, attachment)

    async def twin(self, creator_id: str | None = None) -> CreatorDigitalTwin:
        """The digital twin of a creator (the default creator when none is named)."""
        async with self.sessions() as session:
            creator = (
                await session.get(Creator, creator_id) if creator_id is not None else self.default_creator
            )
        if creator is None:
            raise LookupError(f"no creator {creator_id!r}" if creator_id else "the service is not started")
        return CreatorDigitalTwin(creator.id, creator.name, self.responder, self.personality)

    async def receive(self, message: IncomingMessage, *, paced: bool = True) -> Accepted:
        """The channels' sink: persist the message (deduped); it is answered in the background.

        `paced=False` skips the per-sender rate (callers holding an API key, see `bot.api.chat`); so
        does a channel whose capabilities say `operator` (the terminal: only the operator types there).
        """
        channel = self.channels.get(message.channel)
        operator = channel is not None and channel.capabilities.operator
        return await self.inbox.accept(message, paced=paced and not operator)

    async def wait_for_replies(self, inbox_id: int, timeout: float) -> ReplyOutcome:
        """Wait until a message is answered and its replies are sent, or `timeout` seconds pass."""
        return await wait_for_replies(self.sessions, self.outbox.replies_moved, inbox_id, timeout)

    async def health(self) -> dict[str, dict[str, Any]]:
        """Every component's state ("real", "degraded" or "off") and why."""
        return await self.health_report.collect()

    def now(self) -> datetime:
        """The service's clock."""
        return self.clock.now()


def settle_heap() -> None:
    """Collect once, then put every object alive now out of the garbage collector's sight.

    What exists once the service has started (modules, the model, the engine, the channels) lives as long
    as the process, and a full collection walks every tracked object: at 100k chunks each one paused a
    reply for 80-90 ms (reply overhead p99 96-119 ms; 24-26 ms with the heap settled). Objects made
    afterwards are collected as usual. The one collection here costs about 0.1 s at start.
    """
    gc.collect()
    gc.freeze()
