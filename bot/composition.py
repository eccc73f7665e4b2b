"""Building the service: plain functions that wire the parts together from the settings.

Nothing here touches the disk or the network: the data dir, the key files, the database and the vector
store are opened by the start step (`Coachline.start`, see `bot.preflight`), where a failure is one line
naming the setting to fix. So `build_service` succeeds on any settings, and tests build the service the
way `run.py` does.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from bot.admin_commands import register_admin_commands
from bot.basic_commands import register_basic_commands
from bot.channel_reach import ChannelReach
from bot.claim_codes import ClaimPolicy
from bot.commands import CommandRegistry, CommandServices, Reply
from bot.consent_commands import register_consent_commands
from bot.creator_commands import register_creator_commands
from bot.deferred_store import DeferredVectorStore
from bot.dispatcher import Dispatcher, DispatchPolicy
from bot.foundation.clock import Clock, SystemClock
from bot.foundation.db import create_engine, session_factory
from bot.foundation.leader import LeaderLock
from bot.health_report import HealthReport
from bot.inbox import Inbox
from bot.knowledge_commands import register_knowledge_commands
from bot.outbox import Outbox
from bot.pacing import SenderRate
from bot.preflight import Preflight
from bot.runtime import Coachline
from bot.signals import Signal
from bot.user_commands import register_user_commands
from bot.workers import InboxWorker, OutboxWorker
from channels.base import Channel
from coaching.embeddings import Embedder, build_embedder
from coaching.generation import Generator
from coaching.knowledge import KnowledgeBase
from coaching.llm import build_generator
from coaching.personality.analysers import build_analyser
from coaching.personality.service import PersonalityService
from coaching.responder import Responder
from coaching.vector_store import ChromaVectorStore, VectorStore
from config import Settings
from programs.broadcasts import Broadcaster
from programs.executor import default_executor
from programs.runner import ProgramRunner
from programs.scheduler import ProgramSchedule, create_scheduler, job_store_url

ProgramReply = Callable[[int, str, int], Awaitable[list[Reply] | None]]


def build_service(
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
    freeze_heap_at_start: bool = True,
) -> Coachline:
    """A Coachline instance, not started; any part left out is the one the settings ask for.

    `freeze_heap_at_start=False` leaves the garbage collector as it is (`settle_heap`): for a process
    that starts many services, as the tests do.
    """
    clock = clock or SystemClock()
    instance_id = uuid.uuid4().hex[:12]
    # Creating an engine opens no connection: the start step's migration is the first to connect.
    engine = create_engine(settings.resolved_database_url)
    sessions = session_factory(engine)
    deferred_store = None
    if vector_store is None:
        vector_store = deferred_store = deferred_vector_store(settings)
    generator = generator or build_generator(settings)
    knowledge = KnowledgeBase(
        sessions,
        vector_store,
        embedder or build_embedder(settings),
        clock,
        max_upload_bytes=settings.max_upload_bytes,
        min_relevance=settings.min_relevance,
    )
    personality = PersonalityService(
        sessions, knowledge, build_analyser(settings), clock, cache_ttl_seconds=settings.personality_cache_ttl
    )
    responder = responder or Responder(generator, knowledge=knowledge, personas=personality)
    reach = ChannelReach(channels, max_upload_bytes=settings.max_upload_bytes)
    progress = Signal()
    outbox = Outbox(
        sessions,
        clock,
        instance_id=instance_id,
        lease_seconds=settings.claim_lease_seconds,
        max_attempts=settings.send_max_attempts,
    )
    inbox = Inbox(
        sessions,
        clock,
        instance_id=instance_id,
        lease_seconds=settings.claim_lease_seconds,
        rate=SenderRate(settings.sender_rate, settings.sender_burst),
        outbox=outbox,
    )
    programs = ProgramRunner(
        sessions,
        outbox,
        default_executor(knowledge, responder, personality),
        clock,
        misfire_grace_seconds=settings.misfire_grace_seconds,
        channel_refusal=reach.refusal,
    )
    broadcasts = Broadcaster(sessions, outbox, clock)
    scheduler = create_scheduler()
    program_schedule = ProgramSchedule(
        scheduler,
        LeaderLock(engine, settings.data_dir / "scheduler.lock"),
        job_store_url(settings.resolved_database_url, settings.data_dir),
        programs.run_due,
        tick_seconds=settings.program_tick_seconds,
        misfire_grace_seconds=settings.misfire_grace_seconds,
    )
    health = HealthReport(
        settings=settings,
        engine=engine,
        knowledge=knowledge,
        generator=generator,
        scheduler=scheduler,
        program_schedule=program_schedule,
        inbox=inbox,
        channels=channels,
    )
    commands = command_registry()
    dispatcher = Dispatcher(
        sessions,
        inbox,
        outbox,
        responder,
        commands,
        CommandServices(
            knowledge=knowledge,
            fetch_attachment=reach.fetch_attachment,
            sessions=sessions,
            personality=personality,
            responder=responder,
            programs=programs,
            broadcasts=broadcasts,
            health=health.collect,
            messaging_channels=reach.messaging_channels,
            public_url=settings.public_url,
            claims=ClaimPolicy(settings.claim_code_hours, settings.claim_attempts),
        ),
        dispatch_policy(settings, channels),
        clock,
        on_answering=reach.indicate_typing,
        before_chat=program_replies(programs),
    )
    return Coachline(
        settings=settings,
        clock=clock,
        instance_id=instance_id,
        preflight=Preflight(settings, engine, deferred_store),
        engine=engine,
        sessions=sessions,
        channels=channels,
        reach=reach,
        generator=generator,
        knowledge=knowledge,
        personality=personality,
        responder=responder,
        commands=commands,
        progress=progress,
        outbox=outbox,
        inbox=inbox,
        programs=programs,
        broadcasts=broadcasts,
        dispatcher=dispatcher,
        inbox_worker=InboxWorker(
            inbox, dispatcher, progress, concurrency=settings.worker_concurrency, poll_seconds=poll_seconds
        ),
        outbox_worker=OutboxWorker(
            outbox, channels, progress, concurrency=settings.worker_concurrency, poll_seconds=poll_seconds
        ),
        scheduler=scheduler,
        program_schedule=program_schedule,
        health_report=health,
        shutdown_grace_seconds=shutdown_grace_seconds,
        freeze_heap_at_start=freeze_heap_at_start,
    )


def deferred_vector_store(settings: Settings) -> DeferredVectorStore:
    """The vector store the settings name, opened by the start step: a Chroma server when
    `COACH_CHROMA_URL` is set, else embedded Chroma in the data dir."""
    if settings.chroma_url:
        url = settings.chroma_url
        return DeferredVectorStore(
            lambda: ChromaVectorStore.server(url), f"the Chroma server at {url} (COACH_CHROMA_URL)"
        )
    path = settings.data_dir / "chroma"
    return DeferredVectorStore(
        lambda: ChromaVectorStore.embedded(path), f"embedded Chroma in {path} (COACH_DATA_DIR)"
    )


def command_registry() -> CommandRegistry:
    """Every built-in command, registered once; channels' command forms and help come from it."""
    commands = CommandRegistry()
    register_basic_commands(commands)
    register_knowledge_commands(commands)
    register_consent_commands(commands)
    register_user_commands(commands)
    register_creator_commands(commands)
    register_admin_commands(commands)
    return commands


def dispatch_policy(settings: Settings, channels: dict[str, Channel]) -> DispatchPolicy:
    """Who is an admin, how much is remembered and how long replies may be, per channel."""
    return DispatchPolicy(
        admins=frozenset(settings.admin_accounts()),
        memory_turns=settings.memory_turns,
        max_message_chars=settings.max_message_chars,
        trusted_channels=frozenset(
            name for name, channel in channels.items() if channel.capabilities.operator
        ),
        reply_chars_targets={
            name: channel.limits.reply_chars_target
            for name, channel in channels.items()
            if channel.limits.reply_chars_target is not None
        },
    )


def program_replies(programs: ProgramRunner) -> ProgramReply:
    """The dispatcher's look before chat: is this message an answer to a program's question?"""

    async def program_reply(user_id: int, text: str, inbox_id: int) -> list[Reply] | None:
        outcome = await programs.handle_reply(user_id, text, inbox_id)
        if not outcome.consumed:
            return None
        # The next step, if one follows at once, is the reply; otherwise say the answer arrived.
        return [] if outcome.delivered else [Reply("Thanks — noted.")]

    return program_reply
