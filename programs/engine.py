"""The program engine, pure: the next actions are a function of (program, enrolment, event, now).

Nothing here touches a database, a clock or a channel. `advance` walks from the enrolment's current
step as far as it may go now: it delivers steps that are due, captures answers, evaluates
conditions, performs actions, and stops at the first step that must wait — for a time (`due_at`)
or for the person (a QUESTION's answer, a reply or keyword trigger). The caller persists the new
state, carries out the actions, and calls again at `due_at` or on the person's next message.

Timing: a step's trigger is measured from the moment the previous step ran (or the enrolment), in
the user's time zone; a due time inside the creator's quiet hours moves to the end of them. A step
that came due while nothing ran (downtime) runs once, at the next call — never once per missed slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from programs.conditions import parse_condition
from programs.spec import ActionConfig, StepType, TriggerConfig, next_cron, next_daily

MAX_STEPS_PER_ADVANCE = 200  # a CONDITION loop without a wait must not spin forever


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step, validated."""

    id: str
    name: str
    type: StepType
    trigger: TriggerConfig
    action: ActionConfig


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window (local time) in which nothing is sent; it may span midnight (21:00-08:00)."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        """Whether a local time falls in the window."""
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def release(self, due: datetime, zone: ZoneInfo) -> datetime:
        """`due`, or the end of the quiet window it falls in."""
        local = due.astimezone(zone)
        if not self.contains(local.time()):
            return due
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end.replace(tzinfo=None).replace(tzinfo=zone).astimezone(due.tzinfo)


@dataclass(frozen=True, slots=True)
class ProgramSpec:
    """A program as the engine sees it."""

    id: str
    title: str
    steps: tuple[StepSpec, ...]
    quiet_hours: QuietHours | None = None

    def index_of(self, name: str) -> int | None:
        """The position of the step with this name."""
        return next((index for index, step in enumerate(self.steps) if step.name == name), None)


@dataclass(frozen=True, slots=True)
class EnrollmentState:
    """Where a person is in a program."""

    enrolled_at: datetime
    timezone: str = "UTC"
    status: str = "active"  # active, completed, stopped
    position: int = 0  # index of the next step
    last_step_at: datetime | None = None
    awaiting_answer: str | None = None  # the QUESTION step waiting for a reply
    answers: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)  # step id -> times delivered
    replies: int = 0
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Enrolled:
    """The person was just enrolled."""


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed (the scheduler woke the engine)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """The person wrote (or tapped a button with this value)."""

    text: str


Event = Enrolled | Tick | Reply


@dataclass(frozen=True, slots=True)
class Deliver:
    """Send a step's message; `occurrence` numbers repeated deliveries of one step (loops)."""

    step: StepSpec
    occurrence: int


@dataclass(frozen=True, slots=True)
class CaptureAnswer:
    """A reply was kept as an answer."""

    step: StepSpec
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Evaluated:
    """A condition was evaluated (kept for the debug trace and analytics)."""

    step: StepSpec
    result: bool
    missing: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TagUser:
    """Give the person a tag."""

    tag: str


@dataclass(frozen=True, slots=True)
class EnrollInto:
    """Enrol the person into another program (id or title)."""

    program: str


@dataclass(frozen=True, slots=True)
class Completed:
    """The enrolment reached its end."""


Action = Deliver | CaptureAnswer | Evaluated | TagUser | EnrollInto | Completed


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do now, and the enrolment's new state. `consumed` says the event was the program's."""

    actions: tuple[Action, ...]
    state: EnrollmentState
    consumed: bool = False


def user_zone(name: str) -> ZoneInfo:
    """The person's zone; UTC when the name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def facts_for(state: EnrollmentState, now: datetime) -> dict[str, Any]:
    """The variables a condition can read about an enrolment."""
    delivered = sum(state.deliveries.values())
    zone = user_zone(state.timezone)
    # Day 1 is the day of enrolment, in the person's own calendar.
    day = (now.astimezone(zone).date() - state.enrolled_at.astimezone(zone).date()).days + 1
    return {
        **state.variables,
        "answer": dict(state.answers),
        "var": dict(state.variables),
        "day": day,
        "steps_delivered": delivered,
        "replies": state.replies,
        # Replies per delivered step, capped at 1: how much the person engages.
        "user_engagement_score": min(1.0, state.replies / delivered) if delivered else 0.0,
    }


def advance(
    program: ProgramSpec,
    state: EnrollmentState,
    event: Event,
    now: datetime,
    facts: Mapping[str, Any] | None = None,
    *,
    grace: timedelta | None = None,
) -> Decision:
    """Walk the enrolment forward as far as it may go at `now`, given `event`.

    `grace`: a daily or cron step later than this is moved to its next time instead of sent late.
    """
    if state.status != "active":
        return Decision((), state)
    actions: list[Action] = []
    consumed = False
    zone = user_zone(state.timezone)
    triggered_by_reply = False
    if isinstance(event, Reply):
        state = replace(state, replies=state.replies + 1)
        if state.awaiting_answer is not None:
            step = program.steps[state.position] if state.position < len(program.steps) else None
            if step is not None and step.name == state.awaiting_answer:
                name = step.action.answer_name or step.name
                value = _choice_value(step, event.text)
                actions.append(CaptureAnswer(step, name, value))
                state = replace(
                    state,
                    answers={**state.answers, name: value},
                    awaiting_answer=None,
                    position=state.position + 1,
                    last_step_at=now,
                )
                consumed = True
            else:
                state = replace(state, awaiting_answer=None)
        elif state.position < len(program.steps):
            trigger = program.steps[state.position].trigger
            triggered_by_reply = _reply_triggers(trigger, event.text)
            consumed = triggered_by_reply

    for _ in range(MAX_STEPS_PER_ADVANCE):
        if state.awaiting_answer is not None:
            state = replace(state, due_at=None)  # a question waits for its answer, however long
            break
        if state.position >= len(program.steps):
            actions.append(Completed())
            state = replace(state, status="completed", due_at=None)
            break
        step = program.steps[state.position]
        due = _due(step.trigger, state, now, zone, program.quiet_hours, triggered_by_reply, event, grace)
        if due is None or due > now:
            state = replace(state, due_at=due)
            break
        triggered_by_reply = False  # a reply starts at most one step
        state, jumped_to_end = _run(program, step, state, now, facts, actions)
        if jumped_to_end:
            break
        if state.awaiting_answer is not None or state.status != "active":
            state = replace(state, due_at=None)
            break
    return Decision(tuple(actions), state, consumed)


def _run(
    program: ProgramSpec,
    step: StepSpec,
    state: EnrollmentState,
    now: datetime,
    facts: Mapping[str, Any] | None,
    actions: list[Action],
) -> tuple[EnrollmentState, bool]:
    """Carry out one due step; returns the new state and whether the program ended."""
    following = state.position + 1
    if step.type in (StepType.MESSAGE, StepType.QUESTION):
        occurrence = state.deliveries.get(step.id, 0) + 1
        actions.append(Deliver(step, occurrence))
        state = replace(state, deliveries={**state.deliveries, step.id: occurrence}, last_step_at=now)
        if step.type == StepType.QUESTION:
            return replace(state, awaiting_answer=step.name), False
        return replace(state, position=following), False
    if step.type == StepType.WAIT:
        return replace(state, position=following, last_step_at=now), False
    if step.type == StepType.CONDITION:
        condition = parse_condition(step.action.condition or "false")
        variables = {**facts_for(state, now), **(facts or {})}
        result = condition.evaluate(variables)
        actions.append(Evaluated(step, result, tuple(condition.missing(variables))))
        target = step.action.if_true if result else step.action.if_false
        if target == "end":
            actions.append(Completed())
            return replace(state, status="completed", due_at=None), True
        index = program.index_of(target) if target and target != "next" else None
        return replace(state, position=index if index is not None else following), False
    # ACTION
    action = step.action
    if action.action == "end":
        actions.append(Completed())
        return replace(state, status="completed", due_at=None, position=following), True
    if action.action == "tag" and action.tag:
        actions.append(TagUser(action.tag))
    elif action.action == "enroll" and action.program:
        actions.append(EnrollInto(action.program))
    elif action.action == "set" and action.variable:
        state = replace(state, variables={**state.variables, action.variable: action.value})
    return replace(state, position=following, last_step_at=now), False


def _due(
    trigger: TriggerConfig,
    state: EnrollmentState,
    now: datetime,
    zone: ZoneInfo,
    quiet: QuietHours | None,
    triggered_by_reply: bool,
    event: Event,
    grace: timedelta | None = None,
) -> datetime | None:
    """When a step may run; None while it waits for the person."""
    base = state.last_step_at or state.enrolled_at
    # A clock-time step missed by more than the grace: its next time counts from the grace's start.
    clock_base = max(base, now - grace) if grace is not None else base
    due: datetime | None
    if trigger.trigger_type == "EVENT":
        if trigger.event == "enrollment":
            due = state.enrolled_at
        else:
            return now if triggered_by_reply else None  # replies are answered at once, quiet or not
    elif trigger.trigger_type == "TIME_BASED":
        if trigger.time:
            due = next_daily(clock_base, trigger.time, zone)
        elif trigger.cron:
            due = next_cron(clock_base, trigger.cron, zone)
            if due is None:
                return None
        else:
            start = state.enrolled_at if trigger.after == "enrollment" else base
            due = start + timedelta(seconds=trigger.delay_seconds or 0)
    else:
        due = base
    if quiet is not None and due is not None and not isinstance(event, Reply):
        due = quiet.release(max(due, now), zone)
    return due


def _reply_triggers(trigger: TriggerConfig, text: str) -> bool:
    if trigger.trigger_type != "EVENT":
        return False
    if trigger.event == "reply":
        return True
    if trigger.event == "keyword":
        lowered = text.lower()
        return any(word.strip().lower() in lowered for word in trigger.keywords if word.strip())
    return False


def _choice_value(step: StepSpec, text: str) -> str:
    """A typed reply that matches a choice's label or number counts as that choice's value."""
    answer = text.strip()
    for index, choice in enumerate(step.action.choices, start=1):
        if answer.lower() in (choice.value.lower(), choice.label.lower(), str(index)):
            return choice.value
    return answer
