"""Running enrolments: the engine's decisions carried out, persisted and delivered through the outbox.

For one enrolment at a time: read its state, ask the pure engine what to do, write the messages
(slow work, no transaction held), then commit the new state, the events and the outbox rows in one
transaction — only if the enrolment was not changed meanwhile (its `updated_at` is the version).
Each delivered step's outbox row has the key `program:<enrolment>:<step>:<occurrence>`, so a step is
queued once however often this runs, on however many instances.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.foundation.clock import Clock
from bot.foundation.messages import ConversationReference, OutgoingMessage
from bot.foundation.tables import Creator, User
from bot.outbox import Outbox
from programs.eligibility import EnrollmentError as EnrollmentError
from programs.eligibility import EnrollmentRefusedError, enrollable_user
from programs.engine import (
    CaptureAnswer,
    Completed,
    Decision,
    Deliver,
    Enrolled,
    EnrollInto,
    EnrollmentState,
    Evaluated,
    Event,
    ProgramSpec,
    QuietHours,
    Reply,
    StepSpec,
    TagUser,
    Tick,
    advance,
    facts_for,
)
from programs.executor import DebugTrace, StepContext, StepExecutor, StepOutput
from programs.models import Enrollment, Program, ProgramEvent, ProgramStep, UserTag
from programs.spec import read_quiet_hours, validate_step

log = logging.getLogger(__name__)


def program_spec(program: Program, steps: Sequence[ProgramStep]) -> ProgramSpec:
    """The engine's view of a stored program."""
    names = {step.step_name for step in steps}
    specs = []
    for step in sorted(steps, key=lambda s: s.position):
        kind, trigger, action = validate_step(step.step_type, step.trigger_config, step.action_config, names)
        specs.append(StepSpec(step.id, step.step_name, kind, trigger, action))
    window = read_quiet_hours(program.quiet_hours_start, program.quiet_hours_end)
    quiet = QuietHours(*window) if window else None
    return ProgramSpec(program.id, program.title, tuple(specs), quiet)


def state_of(row: Enrollment, timezone: str | None) -> EnrollmentState:
    """The engine's view of a stored enrolment."""
    return EnrollmentState(
        enrolled_at=row.enrolled_at,
        timezone=timezone or "UTC",
        status=row.status,
        position=row.position,
        last_step_at=row.last_step_at,
        awaiting_answer=row.awaiting_answer,
        answers=dict(row.answers),
        variables=dict(row.variables),
        deliveries={key: int(value) for key, value in row.deliveries.items()},
        replies=row.replies,
        due_at=row.due_at,
    )


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """What an event did: taken by a program (`consumed`), a step sent (`delivered`), state moved."""

    consumed: bool
    delivered: bool
    changed: bool = False


@dataclass(frozen=True, slots=True)
class _Loaded:
    row: Enrollment
    program: Program
    spec: ProgramSpec
    user: User
    creator: Creator


class ProgramRunner:
    """Enrols people, feeds the engine events, and carries out its decisions."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        executor: StepExecutor,
        clock: Clock,
        *,
        misfire_grace_seconds: float | None = None,
        channel_refusal: Callable[[str], str | None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self.executor = executor
        self._clock = clock
        self._grace = timedelta(seconds=misfire_grace_seconds) if misfire_grace_seconds else None
        # Why a channel cannot carry a program here (not configured), None when it can.
        self._channel_refusal = channel_refusal or (lambda channel: None)

    async def enroll(
        self,
        program_id: str,
        channel: str,
        external_id: str,
        *,
        display_name: str | None = None,
    ) -> Enrollment:
        """Enrol someone who has talked to the program's creator (see `programs.eligibility`); the
        program starts at once. Raises `EnrollmentRefusedError` for anyone else or an unconfigured channel."""
        now = self._clock.now()
        refusal = self._channel_refusal(channel)
        if refusal is not None:
            raise EnrollmentRefusedError(refusal)
        async with self._sessions.begin() as session:
            program = await session.get(Program, program_id)
            if program is None:
                raise EnrollmentError(f"no program {program_id!r}")
            if program.status != "active":
                raise EnrollmentError(f"the program is {program.status}; activate it before enrolling people")
            user = await enrollable_user(session, program.creator_id, channel, external_id)
            if display_name and not user.display_name:
                user.display_name = display_name
            existing = await session.scalar(
                select(Enrollment).where(
                    Enrollment.program_id == program_id,
                    Enrollment.user_id == user.id,
                    Enrollment.status == "active",
                )
            )
            if existing is not None:
                return existing
            row = Enrollment(
                program_id=program_id,
                user_id=user.id,
                conversation_ref=ConversationReference(
                    channel, external_id, creator_id=program.creator_id
                ).to_dict(),
                enrolled_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            session.add(ProgramEvent(program_id=program_id, enrollment_id=row.id, kind="enrolled", at=now))
        await self._step(row.id, Enrolled())
        async with self._sessions() as session:
            return await session.get_one(Enrollment, row.id)

    async def run_due(self, limit: int = 200) -> int:
        """Advance every enrolment whose next step is due; returns how many were advanced."""
        now = self._clock.now()
        async with self._sessions() as session:
            ids = list(
                await session.scalars(
                    select(Enrollment.id)
                    .where(Enrollment.status == "active", Enrollment.due_at <= now)
                    .order_by(Enrollment.due_at)
                    .limit(limit)
                )
            )
        advanced = 0
        for enrollment_id in ids:
            try:
                if (await self._step(enrollment_id, Tick())).changed:
                    advanced += 1
            except Exception:  # one broken enrolment must not stop the others
                log.exception("enrolment %s could not advance", enrollment_id)
        return advanced

    async def handle_reply(self, user_id: int, text: str, inbox_id: int | None = None) -> ReplyOutcome:
        """Give a person's message to their enrolments: did a program take it, and did it answer?

        Steps sent in answer are linked to the received message (`inbox_id`), like any reply.
        """
        async with self._sessions() as session:
            ids = list(
                await session.scalars(
                    select(Enrollment.id)
                    .where(Enrollment.user_id == user_id, Enrollment.status == "active")
                    .order_by(Enrollment.enrolled_at)
                )
            )
        taken = delivered = False
        for enrollment_id in ids:
            outcome = await self._step(enrollment_id, Reply(text), inbox_id)
            taken = taken or outcome.consumed
            delivered = delivered or outcome.delivered
        return ReplyOutcome(taken, delivered)

    async def stop(self, enrollment_id: int) -> None:
        """End an enrolment early (the person left, or an admin stopped it)."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            row = await session.get_one(Enrollment, enrollment_id)
            if row.status == "active":
                row.status, row.due_at, row.updated_at = "stopped", None, now
                session.add(
                    ProgramEvent(program_id=row.program_id, enrollment_id=row.id, kind="stopped", at=now)
                )

    async def _load(self, enrollment_id: int) -> _Loaded | None:
        async with self._sessions() as session:
            row = await session.get(Enrollment, enrollment_id)
            if row is None or row.status != "active":
                return None
            program = await session.get_one(Program, row.program_id)
            steps = list(
                await session.scalars(select(ProgramStep).where(ProgramStep.program_id == program.id))
            )
            user = await session.get_one(User, row.user_id)
            creator = await session.get_one(Creator, program.creator_id)
        return _Loaded(row, program, program_spec(program, steps), user, creator)

    async def _step(self, enrollment_id: int, event: Event, inbox_id: int | None = None) -> ReplyOutcome:
        """One engine call for one enrolment, carried out."""
        loaded = await self._load(enrollment_id)
        if loaded is None:
            return ReplyOutcome(False, False)
        now = self._clock.now()
        state = state_of(loaded.row, loaded.user.timezone)
        decision = advance(loaded.spec, state, event, now, grace=self._grace)
        if not decision.actions and decision.state == state:
            return ReplyOutcome(False, False)
        # Writing messages may take a model's time: done before the transaction, never inside it.
        outputs: dict[int, StepOutput] = {}
        for index, action in enumerate(decision.actions):
            if isinstance(action, Deliver):
                outputs[index] = await self.executor.execute(
                    action.step, self._context(loaded, decision.state, now), DebugTrace(enabled=False)
                )
        try:
            committed = await self._commit(loaded, decision, outputs, now, event, inbox_id)
        except IntegrityError:
            # Another worker queued the same step first (its delivery key exists): theirs stands.
            log.info("enrolment %s advanced elsewhere first", enrollment_id)
            return ReplyOutcome(False, False)
        if committed:
            self._outbox.queued.notify()
            for action in decision.actions:
                if isinstance(action, EnrollInto):
                    await self._enroll_into(loaded, action.program)
        delivered = committed and any(isinstance(action, Deliver) for action in decision.actions)
        return ReplyOutcome(committed and decision.consumed, delivered, changed=committed)

    def _context(self, loaded: _Loaded, state: EnrollmentState, now: datetime) -> StepContext:
        return StepContext(
            creator_id=loaded.creator.id,
            creator_name=loaded.creator.name,
            program_title=loaded.program.title,
            enable_personality=loaded.program.enable_personality,
            user_name=loaded.user.display_name or "there",
            day=int(facts_for(state, now)["day"]),
            answers=state.answers,
            variables=state.variables,
        )

    async def _commit(
        self,
        loaded: _Loaded,
        decision: Decision,
        outputs: dict[int, StepOutput],
        now: datetime,
        event: Event,
        inbox_id: int | None,
    ) -> bool:
        row, state = loaded.row, decision.state
        reference = ConversationReference.from_dict(row.conversation_ref)
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Enrollment)
                .where(Enrollment.id == row.id, Enrollment.updated_at == row.updated_at)
                .values(
                    status=state.status,
                    position=state.position,
                    awaiting_answer=state.awaiting_answer,
                    answers=state.answers,
                    variables=state.variables,
                    deliveries=state.deliveries,
                    replies=state.replies,
                    due_at=state.due_at,
                    last_step_at=state.last_step_at,
                    updated_at=now,
                    completed_at=now if state.status == "completed" else None,
                )
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False  # changed meanwhile: the next call starts from the new state
            if isinstance(event, Reply) and not any(isinstance(a, CaptureAnswer) for a in decision.actions):
                session.add(_event(row, None, "replied", now, {"text": event.text[:500]}))
            for index, action in enumerate(decision.actions):
                if isinstance(action, Deliver):
                    output = outputs[index]
                    self._outbox.enqueue(
                        session,
                        OutgoingMessage(
                            reference, output.text or "", sources=output.sources, buttons=output.buttons
                        ),
                        dedupe_key=f"program:{row.id}:{action.step.id}:{action.occurrence}",
                        inbox_id=inbox_id,
                    )
                    session.add(
                        _event(
                            row,
                            action.step.id,
                            "delivered",
                            now,
                            {
                                "occurrence": action.occurrence,
                                "knowledge_chunks": len(output.knowledge_used),
                                "relevance": [item["relevance_score"] for item in output.knowledge_used],
                                "uses_knowledge": action.step.action.use_knowledge_context,
                                "personality_consistency": output.personality_consistency,
                            },
                        )
                    )
                elif isinstance(action, CaptureAnswer):
                    session.add(
                        _event(
                            row, action.step.id, "answered", now, {"name": action.name, "value": action.value}
                        )
                    )
                elif isinstance(action, Evaluated):
                    session.add(
                        _event(
                            row,
                            action.step.id,
                            "condition",
                            now,
                            {"result": action.result, "missing": list(action.missing)},
                        )
                    )
                elif isinstance(action, TagUser):
                    await _tag(session, row.user_id, action.tag, now)
                elif isinstance(action, Completed):
                    session.add(_event(row, None, "completed", now))
        return True

    async def _enroll_into(self, loaded: _Loaded, program_ref: str) -> None:
        async with self._sessions() as session:
            target = await session.get(Program, program_ref)
            if target is None:
                target = await session.scalar(
                    select(Program).where(
                        Program.creator_id == loaded.creator.id, Program.title == program_ref
                    )
                )
        if target is None or target.creator_id != loaded.creator.id:
            log.warning("ACTION enroll: no program %r for creator %s", program_ref, loaded.creator.id)
            return
        reference = ConversationReference.from_dict(loaded.row.conversation_ref)
        try:
            await self.enroll(target.id, reference.channel, reference.chat_id)
        except EnrollmentError as exc:
            log.warning("ACTION enroll into %s failed: %s", program_ref, exc)


def _event(
    row: Enrollment, step_id: str | None, kind: str, at: datetime, data: dict[str, object] | None = None
) -> ProgramEvent:
    return ProgramEvent(
        program_id=row.program_id, enrollment_id=row.id, step_id=step_id, kind=kind, data=data or {}, at=at
    )


async def _tag(session: AsyncSession, user_id: int, tag: str, now: datetime) -> None:
    exists = await session.scalar(select(UserTag.id).where(UserTag.user_id == user_id, UserTag.tag == tag))
    if exists is None:
        session.add(UserTag(user_id=user_id, tag=tag, created_at=now))
