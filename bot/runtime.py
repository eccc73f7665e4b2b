"""The running service: builds every part from the settings, starts and stops them in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.admin_commands import register_admin_commands
from bot.basic_commands import register_basic_commands
from bot.claim_codes import ClaimPolicy
from bot.commands import CommandRegistry, CommandServices, Reply
from bot.consent_commands import register_consent_commands
from bot.creator_commands import register_creator_commands
from bot.dispatcher import Dispatcher, DispatchPolicy
from bot.file_modes import prepare_private_storage
from bot.foundation.clock import Clock, SystemClock
from bot.foundation.db import create_engine, migrate, session_factory
from bot.foundation.leader import LeaderLock
from bot.foundation.messages import Attachment, ConversationReference, IncomingMessage
from bot.foundation.tables import Creator, OutboxMessage
from bot.identity import ensure_default_creator
from bot.inbox import Inbox, inbox_status
from bot.knowledge_commands import register_knowledge_commands
from bot.models import InboxMessage
from bot.outbox import FINAL_STATES, Outbox
from bot.pacing import SenderRate
from bot.roles import Role
from bot.secrets import load_or_create_secret
from bot.signals import Signal
from bot.user_commands import register_user_commands
from bot.workers import InboxWorker, OutboxWorker
from channels.base import Accepted, Channel
from coaching.documents import DocumentRejected
from coaching.embeddings import Embedder, build_embedder
from coaching.generation import Generator
from coaching.knowledge import KnowledgeBase
from coaching.llm import build_generator
from coaching.personality.analysers import build_analyser
from coaching.personality.service import PersonalityService
from coaching.responder import Responder
from coaching.status import ComponentStatus
from coaching.twin import CreatorDigitalTwin
from coaching.vector_store import VectorStore, build_vector_store
from config import Settings
from programs.broadcasts import Broadcaster
from programs.eligibility import channel_refusal
from programs.executor import default_executor
from programs.runner import ProgramRunner
from programs.scheduler import ProgramSchedule, create_scheduler, job_store_url, scheduler_status

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """What came of a received message by the time the waiter stopped waiting."""

    inbox_id: int
    finished: bool  # the message was answered (or given up on) and every reply settled
    replies: list[OutboxMessage]


class Coachline:
    """One Coachline instance: database, channels, generator, workers and scheduler."""

    def __init__(
        self,
        settings: Settings,
        *,
        channels: dict[str, Channel],
        generator: Generator | None = None,
        embedder: Embedder | None = None,
        vector_store: VectorStore | None = None,
        responder: Responder | None = None,
        clock: Clock | None = None,
        poll_seconds: float = 0.5,
        shutdown_grace_seconds: float = 5.0,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.instance_id = f"{uuid.uuid4().hex[:12]}"
        prepare_private_storage(settings)  # chat history and phone numbers: owner-only
        self.admin_api_key, self.admin_api_key_created = self._admin_key()
        self.engine: AsyncEngine = create_engine(settings.resolved_database_url)
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(self.engine)
        self.channels = channels
        self.generator: Generator = generator or build_generator(settings)
        self.knowledge = KnowledgeBase(
            self.sessions,
            vector_store or build_vector_store(settings.chroma_url, settings.data_dir),
            embedder or build_embedder(settings),
            self.clock,
            max_upload_bytes=settings.max_upload_bytes,
            min_relevance=settings.min_relevance,
        )
        self.personality = PersonalityService(
            self.sessions,
            self.knowledge,
            build_analyser(settings),
            self.clock,
            cache_ttl_seconds=settings.personality_cache_ttl,
        )
        self.responder = responder or Responder(
            self.generator, knowledge=self.knowledge, personas=self.personality
        )
        self.commands = CommandRegistry()
        register_basic_commands(self.commands)
        register_knowledge_commands(self.commands)
        register_consent_commands(self.commands)
        register_user_commands(self.commands)
        register_creator_commands(self.commands)
        register_admin_commands(self.commands)
        self.progress = Signal()
        self.outbox = Outbox(
            self.sessions,
            self.clock,
            instance_id=self.instance_id,
            lease_seconds=settings.claim_lease_seconds,
            max_attempts=settings.send_max_attempts,
        )
        self.inbox = Inbox(
            self.sessions,
            self.clock,
            instance_id=self.instance_id,
            lease_seconds=settings.claim_lease_seconds,
            rate=SenderRate(settings.sender_rate, settings.sender_burst),
            outbox=self.outbox,
        )
        self.programs = ProgramRunner(
            self.sessions,
            self.outbox,
            default_executor(self.knowledge, self.responder, self.personality),
            self.clock,
            misfire_grace_seconds=settings.misfire_grace_seconds,
            channel_refusal=lambda channel: channel_refusal(channel, self.channels),
        )
        self.broadcasts = Broadcaster(self.sessions, self.outbox, self.clock)
        self.dispatcher = Dispatcher(
            self.sessions,
            self.inbox,
            self.outbox,
            self.responder,
            self.commands,
            CommandServices(
                knowledge=self.knowledge,
                fetch_attachment=self.fetch_attachment,
                sessions=self.sessions,
                personality=self.personality,
                responder=self.responder,
                programs=self.programs,
                broadcasts=self.broadcasts,
                health=self.health,
                messaging_channels=self.messaging_channels,
                public_url=settings.public_url,
                claims=ClaimPolicy(settings.claim_code_hours, settings.claim_attempts),
            ),
            DispatchPolicy(
                admins=frozenset(settings.admin_accounts()),
                memory_turns=settings.memory_turns,
                max_message_chars=settings.max_message_chars,
                trusted_channels=frozenset({"console"}),
                reply_chars_targets={
                    name: channel.limits.reply_chars_target
                    for name, channel in channels.items()
                    if channel.limits.reply_chars_target is not None
                },
            ),
            self.clock,
            on_answering=self._indicate_typing,
            before_chat=self._program_reply,
        )
        self.inbox_worker = InboxWorker(
            self.inbox,
            self.dispatcher,
            self.progress,
            concurrency=settings.worker_concurrency,
            poll_seconds=poll_seconds,
        )
        self.outbox_worker = OutboxWorker(
            self.outbox,
            self.channels,
            self.progress,
            concurrency=settings.worker_concurrency,
            poll_seconds=poll_seconds,
        )
        self.scheduler = create_scheduler()
        self.program_schedule = ProgramSchedule(
            self.scheduler,
            LeaderLock(self.engine, settings.data_dir / "scheduler.lock"),
            job_store_url(settings.resolved_database_url, settings.data_dir),
            self.programs.run_due,
            tick_seconds=settings.program_tick_seconds,
            misfire_grace_seconds=settings.misfire_grace_seconds,
        )
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self.default_creator: Creator | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def _admin_key(self) -> tuple[str, bool]:
        if self.settings.api_key:
            return self.settings.api_key, False
        return load_or_create_secret(self.settings.data_dir / "admin_api_key", prefix="adm")

    async def start(self) -> None:
        """Migrate the database, make the default creator, start channels, workers and the scheduler."""
        await migrate(self.engine)
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
        self.scheduler.add_job(self._recheck_generator, "interval", seconds=60, id="recheck-generator")
        self.scheduler.add_job(self.knowledge.recover, "interval", minutes=5, id="recover-uploads")
        await self.program_schedule.start()
        # A broadcast whose fan-out a crash interrupted is completed (its keys prevent duplicates).
        await self.broadcasts.resume_unfinished()

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
        await self.engine.dispose()

    def messaging_channels(self) -> list[str]:
        """The channels this instance sends to that reach people by themselves (not the local ones)."""
        # The page, the chat API and the terminal only show replies to their own requests.
        return [name for name, channel in self.channels.items() if channel.capabilities.speaks_first]

    async def twin(self, creator_id: str | None = None) -> CreatorDigitalTwin:
        """The digital twin of a creator (the default creator when none is named)."""
        async with self.sessions() as session:
            creator = (
                await session.get(Creator, creator_id) if creator_id is not None else self.default_creator
            )
        if creator is None:
            raise LookupError(f"no creator {creator_id!r}" if creator_id else "the service is not started")
        return CreatorDigitalTwin(creator.id, creator.name, self.responder, self.personality)

    async def _program_reply(self, user_id: int, text: str, inbox_id: int) -> list[Reply] | None:
        """A chat message as an answer to a program's question (or its reply trigger), if it is one."""
        outcome = await self.programs.handle_reply(user_id, text, inbox_id)
        if not outcome.consumed:
            return None
        # The next step, if one follows at once, is the reply; otherwise say the answer arrived.
        return [] if outcome.delivered else [Reply("Thanks — noted.")]

    async def _indicate_typing(self, conversation: ConversationReference) -> None:
        channel = self.channels.get(conversation.channel)
        if channel is None or not channel.capabilities.typing:
            return
        try:
            await channel.indicate_typing(conversation)
        except Exception as exc:  # a cosmetic call: it must never cost the answer
            log.debug("typing indicator on %s failed: %s", conversation.channel, exc)

    async def _recheck_generator(self) -> None:
        await self.generator.check()

    async def receive(self, message: IncomingMessage, *, paced: bool = True) -> Accepted:
        """The channels' sink: persist the message (deduped); it is answered in the background.

        `paced=False` skips the per-sender rate (callers holding an API key, see `bot.api.chat`).
        """
        return await self.inbox.accept(message, paced=paced)

    async def fetch_attachment(self, channel: str, attachment: Attachment) -> bytes:
        """An attachment's bytes, fetched by the channel it came through (with its credentials)."""
        if channel not in self.channels:
            raise DocumentRejected(f"files sent on {channel} cannot be fetched by this instance")
        return await self.channels[channel].fetch_attachment(attachment, self.settings.max_upload_bytes)

    async def wait_for_replies(self, inbox_id: int, timeout: float) -> ReplyOutcome:
        """Wait until a message is answered and its replies are sent, or `timeout` seconds pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            progress = self.progress.watch()
            async with self.sessions() as session:
                status = await session.scalar(select(InboxMessage.status).where(InboxMessage.id == inbox_id))
                rows = list(
                    await session.scalars(
                        select(OutboxMessage)
                        .where(OutboxMessage.inbox_id == inbox_id)
                        .order_by(OutboxMessage.id)
                    )
                )
            # "throttled": over its sender's rate, kept and never answered (see bot.pacing).
            finished = status in ("done", "failed", "throttled") and all(
                row.status in FINAL_STATES for row in rows
            )
            remaining = deadline - loop.time()
            if finished or remaining <= 0:
                return ReplyOutcome(inbox_id, finished, rows)
            # The signal makes this instant in-process; the short poll covers other instances.
            await progress.wait(min(remaining, 0.25))

    async def health(self) -> dict[str, dict[str, Any]]:
        """Every component's state ("real", "degraded" or "off") and why."""
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

    def now(self) -> datetime:
        """The service's clock."""
        return self.clock.now()
