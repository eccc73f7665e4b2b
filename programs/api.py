"""`/api/v1/creators/programs/...`: programs and steps in the seed's shapes, execution, conditions,
analytics, diagrams and enrolments.

Step configs may be objects (`trigger_config`, `action_config`) or the seed's JSON strings
(`trigger_config_json`, `action_config_json`); bad ones are refused with 422 and a message that
names the field and the problem.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api.deps import Caller, Service, acting_creator
from bot.api.errors import COMMON_ERRORS, error_responses
from bot.api.strict import RequestModel
from bot.foundation.messages import UNSTORABLE
from bot.foundation.tables import Creator
from bot.runtime import Coachline
from programs.analytics import program_analytics
from programs.api_models import (
    AnalyticsOut,
    ConditionCheckOut,
    ConditionResultOut,
    ConditionsIn,
    ConditionsOut,
    DiagramOut,
    EnrollIn,
    EnrollmentListOut,
    EnrollmentOut,
    ExecuteIn,
    ExecuteOut,
    ProgramDeletedOut,
    ProgramIn,
    ProgramListOut,
    ProgramOut,
    ProgramUpdate,
    ReorderIn,
    ReorderOut,
    StepCheckOut,
    StepDeletedOut,
    StepIn,
    StepOut,
    TestResultOut,
    enrollment_out,
    program_out,
    read_test_user,
    step_out,
)
from programs.conditions import ConditionError, parse_condition
from programs.diagram import mermaid
from programs.eligibility import EnrollmentError, EnrollmentRefusedError
from programs.engine import ProgramSpec
from programs.executor import DebugTrace, StepContext
from programs.models import Enrollment, Program, ProgramStep
from programs.runner import program_spec
from programs.seed_shapes import seed_analytics, step_execution
from programs.spec import ConfigError, load_config, validate_step

router = APIRouter(prefix="/api/v1/creators/programs", tags=["programs"], responses=COMMON_ERRORS)


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


def _configs(body: StepIn) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        trigger = load_config(
            body.trigger_config if body.trigger_config is not None else body.trigger_config_json,
            "trigger_config_json"
            if body.trigger_config is None and body.trigger_config_json
            else "trigger_config",
        )
        action = load_config(
            body.action_config if body.action_config is not None else body.action_config_json,
            "action_config_json"
            if body.action_config is None and body.action_config_json
            else "action_config",
        )
    except ConfigError as exc:
        raise _unprocessable(str(exc)) from None
    return trigger, action


def _new_step(program_id: str, body: StepIn, position: int, names: set[str], now: Any) -> ProgramStep:
    trigger, action = _configs(body)
    try:
        kind, _, _ = validate_step(body.step_type, trigger, action, names)
    except ConfigError as exc:
        raise _unprocessable(f"step {body.step_name!r}: {exc}") from None
    return ProgramStep(
        id=str(uuid.uuid4()),
        program_id=program_id,
        step_name=body.step_name,
        step_type=kind.value,
        position=position,
        trigger_config=trigger,
        action_config=action,
        created_at=now,
    )


async def _owned(session: AsyncSession, service: Coachline, principal: Caller, program_id: str) -> Program:
    # An id no database could hold is simply not found (PostgreSQL would refuse to look it up).
    program = None if UNSTORABLE.search(program_id) else await session.get(Program, program_id)
    if program is None or (not principal.is_admin and program.creator_id != principal.creator_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "program not found")
    return program


async def _steps(session: AsyncSession, program_id: str) -> list[ProgramStep]:
    return list(
        await session.scalars(
            select(ProgramStep).where(ProgramStep.program_id == program_id).order_by(ProgramStep.position)
        )
    )


async def _enrollment_count(session: AsyncSession, program_id: str) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(Enrollment).where(Enrollment.program_id == program_id)
        )
        or 0
    )


def _spec(program: Program, steps: list[ProgramStep]) -> ProgramSpec:
    """The engine's view of a stored program; 409 saying what is wrong if its steps no longer agree."""
    try:
        return program_spec(program, steps)
    except ConfigError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"the program's steps need fixing: {exc}") from None


def _check_branches(steps: list[ProgramStep]) -> None:
    names = {step.step_name for step in steps}
    for step in steps:
        try:
            validate_step(step.step_type, step.trigger_config, step.action_config, names)
        except ConfigError as exc:
            raise _unprocessable(f"step {step.step_name!r}: {exc}") from None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProgramOut)
@router.post("/", status_code=status.HTTP_201_CREATED, include_in_schema=False, response_model=ProgramOut)
async def create_program(body: ProgramIn, service: Service, principal: Caller) -> ProgramOut:
    """Create a program, with its steps if given."""
    creator_id = await acting_creator(service, principal, body.creator_id)
    program, steps = new_program(creator_id, body, service.now())
    async with service.sessions.begin() as session:
        session.add(program)
        await session.flush()
        session.add_all(steps)
    return program_out(program, steps)


def new_program(creator_id: str, body: ProgramIn, now: datetime) -> tuple[Program, list[ProgramStep]]:
    """A program and its steps, validated (raises 422 `HTTPException` saying what is wrong)."""
    program = Program(
        id=str(uuid.uuid4()),
        creator_id=creator_id,
        title=body.title,
        description=body.description,
        enable_personality=body.enable_personality,
        enable_analytics=body.enable_analytics,
        status=body.status,
        quiet_hours_start=body.quiet_hours.start if body.quiet_hours else None,
        quiet_hours_end=body.quiet_hours.end if body.quiet_hours else None,
        created_at=now,
        updated_at=now,
    )
    names = {step.step_name for step in body.steps}
    if len(names) != len(body.steps):
        raise _unprocessable("steps: step names must be unique within a program")
    steps = [_new_step(program.id, step, index, names, now) for index, step in enumerate(body.steps)]
    return program, steps


class StepCheckIn(RequestModel):
    """A step being edited, to validate as it is typed (the dashboard's builder)."""

    step_type: str
    trigger_config: dict[str, Any] | str | None = None
    action_config: dict[str, Any] | str | None = None
    step_names: list[str] = Field(default_factory=list)


class ConditionCheckIn(RequestModel):
    """A condition being typed."""

    condition: str = Field(max_length=2000)


@router.post("/validate-step", response_model=StepCheckOut)
async def validate_step_config(body: StepCheckIn, principal: Caller) -> StepCheckOut:
    """Whether a step's type and configs are valid, with the same checks (and messages) as saving it."""
    try:
        trigger = load_config(body.trigger_config, "trigger_config")
        action = load_config(body.action_config, "action_config")
        kind, parsed_trigger, _ = validate_step(body.step_type, trigger, action, set(body.step_names) or None)
    except ConfigError as exc:
        return StepCheckOut(valid=False, error=str(exc), trigger=None)
    return StepCheckOut(valid=True, error=None, step_type=kind.value, trigger=parsed_trigger.describe())


@router.post("/validate-condition", response_model=ConditionCheckOut)
async def validate_condition(body: ConditionCheckIn, principal: Caller) -> ConditionCheckOut:
    """Whether a condition parses, and where it does not (the same parser as the engine)."""
    try:
        condition = parse_condition(body.condition)
    except ConditionError as exc:
        return ConditionCheckOut(valid=False, error=exc.message, position=exc.position)
    return ConditionCheckOut(valid=True, error=None, position=None, variables=condition.variables)


@router.get("", response_model=ProgramListOut)
@router.get("/", include_in_schema=False, response_model=ProgramListOut)
async def list_programs(
    service: Service, principal: Caller, creator_id: str | None = Query(None)
) -> ProgramListOut:
    """The creator's programs with their enrolment counts."""
    creator = await acting_creator(service, principal, creator_id)
    async with service.sessions() as session:
        programs = list(
            await session.scalars(
                select(Program).where(Program.creator_id == creator).order_by(Program.created_at)
            )
        )
        out = [
            program_out(
                program, await _steps(session, program.id), await _enrollment_count(session, program.id)
            )
            for program in programs
        ]
    return ProgramListOut(programs=out, total=len(out))


@router.get("/{program_id}", response_model=ProgramOut)
async def get_program(program_id: str, service: Service, principal: Caller) -> ProgramOut:
    """One program with its steps."""
    async with service.sessions() as session:
        program = await _owned(session, service, principal, program_id)
        return program_out(
            program, await _steps(session, program_id), await _enrollment_count(session, program_id)
        )


@router.put("/{program_id}", response_model=ProgramOut)
@router.patch("/{program_id}", include_in_schema=False, response_model=ProgramOut)
async def update_program(
    program_id: str, body: ProgramUpdate, service: Service, principal: Caller
) -> ProgramOut:
    """Change a program's fields (activate, archive, rename, quiet hours ...)."""
    async with service.sessions.begin() as session:
        program = await _owned(session, service, principal, program_id)
        changes = body.model_dump(exclude_unset=True, exclude={"quiet_hours"})
        for name, value in changes.items():
            setattr(program, name, value)
        if "quiet_hours" in body.model_fields_set:
            program.quiet_hours_start = body.quiet_hours.start if body.quiet_hours else None
            program.quiet_hours_end = body.quiet_hours.end if body.quiet_hours else None
        program.updated_at = service.now()
        steps = await _steps(session, program_id)
        return program_out(program, steps, await _enrollment_count(session, program_id))


@router.delete("/{program_id}", response_model=ProgramDeletedOut)
async def delete_program(program_id: str, service: Service, principal: Caller) -> ProgramDeletedOut:
    """Delete a program, its steps, enrolments and events."""
    async with service.sessions.begin() as session:
        program = await _owned(session, service, principal, program_id)
        await session.delete(program)
    return ProgramDeletedOut(message="Program deleted successfully", program_id=program_id)


@router.post("/{program_id}/steps", status_code=status.HTTP_201_CREATED, response_model=StepOut)
async def add_step(program_id: str, body: StepIn, service: Service, principal: Caller) -> StepOut:
    """Add a step at the end, or at `order`."""
    async with service.sessions.begin() as session:
        await _owned(session, service, principal, program_id)
        steps = await _steps(session, program_id)
        if any(step.step_name == body.step_name for step in steps):
            raise _unprocessable(f"step_name: the program already has a step named {body.step_name!r}")
        names = {step.step_name for step in steps} | {body.step_name}
        position = len(steps) if body.order is None else min(body.order, len(steps))
        step = _new_step(program_id, body, position, names, service.now())
        for other in steps:
            if other.position >= position:
                other.position += 1
        session.add(step)
        return step_out(step)


@router.put("/{program_id}/steps/reorder", response_model=ReorderOut)
@router.post("/{program_id}/steps/reorder", include_in_schema=False, response_model=ReorderOut)
async def reorder_steps(program_id: str, body: ReorderIn, service: Service, principal: Caller) -> ReorderOut:
    """Put the steps in the given order (every step id, once)."""
    async with service.sessions.begin() as session:
        await _owned(session, service, principal, program_id)
        steps = {step.id: step for step in await _steps(session, program_id)}
        if sorted(body.step_ids) != sorted(steps):
            raise _unprocessable("step_ids: list every step of the program exactly once")
        for position, step_id in enumerate(body.step_ids):
            steps[step_id].position = position
        return ReorderOut(
            program_id=program_id, steps=[step_out(steps[step_id]) for step_id in body.step_ids]
        )


@router.put("/{program_id}/steps/{step_id}", response_model=StepOut)
async def update_step(
    program_id: str, step_id: str, body: StepIn, service: Service, principal: Caller
) -> StepOut:
    """Replace a step's name, type and configs."""
    async with service.sessions.begin() as session:
        await _owned(session, service, principal, program_id)
        steps = await _steps(session, program_id)
        step = next((item for item in steps if item.id == step_id), None)
        if step is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "step not found")
        names = {item.step_name for item in steps if item.id != step_id} | {body.step_name}
        if body.step_name in {item.step_name for item in steps if item.id != step_id}:
            raise _unprocessable(f"step_name: the program already has a step named {body.step_name!r}")
        replacement = _new_step(program_id, body, step.position, names, step.created_at)
        step.step_name, step.step_type = replacement.step_name, replacement.step_type
        step.trigger_config, step.action_config = replacement.trigger_config, replacement.action_config
        _check_branches(steps)  # a rename must not leave a CONDITION pointing at the old name
        return step_out(step)


@router.delete("/{program_id}/steps/{step_id}", response_model=StepDeletedOut)
async def delete_step(program_id: str, step_id: str, service: Service, principal: Caller) -> StepDeletedOut:
    """Remove a step (refused while a CONDITION still branches to it)."""
    async with service.sessions.begin() as session:
        await _owned(session, service, principal, program_id)
        steps = await _steps(session, program_id)
        step = next((item for item in steps if item.id == step_id), None)
        if step is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "step not found")
        remaining = [item for item in steps if item.id != step_id]
        _check_branches(remaining)
        await session.delete(step)
        for position, item in enumerate(remaining):
            item.position = position
    return StepDeletedOut(message="Step deleted successfully", step_id=step_id)


@router.post(
    "/{program_id}/execute",
    response_model=ExecuteOut,
    response_model_exclude_unset=True,
    responses=error_responses(409),
)
async def execute_step(
    program_id: str, body: ExecuteIn, service: Service, principal: Caller
) -> dict[str, Any]:
    """Run one step (by id or name; the first by default) for a test user, with a debug trace."""
    async with service.sessions() as session:
        program = await _owned(session, service, principal, program_id)
        steps = await _steps(session, program_id)
        creator = await session.get_one(Creator, program.creator_id)
    if not steps:
        raise _unprocessable("the program has no steps yet")
    spec = _spec(program, steps)
    wanted = next(
        (step for step in spec.steps if step.id == body.step_id or step.name == body.step_name),
        None if (body.step_id or body.step_name) else spec.steps[0],
    )
    if wanted is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "step not found")
    context = read_test_user(body.user_context)
    debug = DebugTrace(enabled=True)
    debug.log_milestone("execution_started", {"program": program.title, "step": wanted.name})
    output = await service.programs.executor.execute(
        wanted,
        StepContext(
            creator_id=creator.id,
            creator_name=creator.name,
            program_title=program.title,
            enable_personality=program.enable_personality,
            user_name=context.user_name,
            day=context.day,
            answers=context.answers,
            variables=context.variables,
        ),
        debug,
    )
    debug.log_milestone("execution_finished")
    result: dict[str, Any] = {
        "program_id": program_id,
        "step_id": wanted.id,
        "step_name": wanted.name,
        "step_type": wanted.type.value,
        "execution_result": {
            "message": output.text,
            "buttons": [{"label": b.label, "value": b.value} for b in output.buttons],
            "knowledge_used": list(output.knowledge_used),
            "knowledge_context_available": bool(output.knowledge_used),
            "personality_enhanced": output.personality_applied,
            "personality_consistency": output.personality_consistency,
            **output.detail,
        },
        "execution_time_ms": debug.total_ms,
        "step_execution": step_execution(wanted.id, wanted.action.context_query, output, debug.total_ms),
    }
    if body.debug_mode:
        result["debug_info"] = {"milestones": debug.milestones, "total_ms": debug.total_ms}
    return result


@router.post("/{program_id}/test-conditions", response_model=ConditionsOut, response_model_exclude_unset=True)
async def test_conditions(
    program_id: str, body: ConditionsIn, service: Service, principal: Caller
) -> ConditionsOut:
    """Evaluate conditions against a context: the seed's `test_expressions` (each with its
    `expected_result`) against `variables`, answered in `test_results` with `success_rate`; or
    `condition`/`conditions` (by default the program's CONDITION steps) answered in `results`."""
    async with service.sessions() as session:
        await _owned(session, service, principal, program_id)
        steps = await _steps(session, program_id)
    context = {**body.user_context, **body.variables, **body.context}
    sources = [body.condition] if body.condition else []
    sources += body.conditions
    labelled: list[tuple[str | None, str]] = [(None, source) for source in sources]
    if not labelled and not body.test_expressions:
        labelled = [
            (step.step_name, str(step.action_config.get("condition", "")))
            for step in steps
            if step.step_type == "CONDITION"
        ]
    results = [_condition_result(step_name, source, context) for step_name, source in labelled]
    tests = [
        _test_result(test.expression, test.expected_result, test.description, context)
        for test in body.test_expressions
    ]
    rate = round(sum(test.test_passed for test in tests) / len(tests), 4) if tests else None
    return ConditionsOut(
        program_id=program_id, context=context, results=results, test_results=tests, success_rate=rate
    )


def _condition_result(step_name: str | None, source: str, context: dict[str, Any]) -> ConditionResultOut:
    try:
        condition = parse_condition(source)
    except ConditionError as exc:
        return ConditionResultOut(
            condition=source,
            step_name=step_name,
            valid=False,
            result=None,
            error=exc.message,
            position=exc.position,
        )
    return ConditionResultOut(
        condition=source,
        step_name=step_name,
        valid=True,
        result=condition.evaluate(context),
        variables=condition.variables,
        missing_variables=condition.missing(context),
    )


def _test_result(
    expression: str, expected: bool | None, description: str | None, context: dict[str, Any]
) -> TestResultOut:
    """One seed test: passed when the result is the expected one (or, with none expected, when it
    evaluates at all)."""
    started = time.perf_counter()
    try:
        condition = parse_condition(expression)
        result: bool | None = condition.evaluate(context)
        error, missing = None, condition.missing(context)
    except ConditionError as exc:
        result, error, missing = None, f"{exc.message} (at {exc.position})", []
    elapsed = round((time.perf_counter() - started) * 1000, 3)
    passed = error is None and (expected is None or result == expected)
    return TestResultOut(
        expression=expression,
        result=result,
        test_passed=passed,
        execution_time_ms=elapsed,
        expected_result=expected,
        description=description,
        valid=error is None,
        error=error,
        missing_variables=missing,
    )


@router.get("/{program_id}/analytics", response_model=AnalyticsOut)
async def analytics(
    program_id: str,
    service: Service,
    principal: Caller,
    time_range_days: int = Query(30, ge=1, le=3650),
    engagement_hours: float = Query(24.0, gt=0, le=24 * 30),
) -> dict[str, Any]:
    """Enrolments, completion, drop-off, engagement, knowledge use, voice and topics (see `definitions`)."""
    async with service.sessions() as session:
        await _owned(session, service, principal, program_id)
        flat = await program_analytics(
            session,
            program_id,
            service.now(),
            time_range_days=time_range_days,
            engagement_hours=engagement_hours,
        )
    return {**flat, "analytics": seed_analytics(flat)}


@router.get(
    "/{program_id}/diagram",
    response_model=DiagramOut,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **error_responses(409),
    },
)
async def diagram(
    program_id: str, service: Service, principal: Caller, format: Literal["json", "mermaid"] = "json"
) -> Any:
    """The program as a Mermaid flowchart (`?format=mermaid` for the bare text)."""
    async with service.sessions() as session:
        program = await _owned(session, service, principal, program_id)
        steps = await _steps(session, program_id)
    text = mermaid(_spec(program, steps))
    if format == "mermaid":
        return Response(text, media_type="text/plain; charset=utf-8")
    return DiagramOut(program_id=program_id, format="mermaid", diagram=text)


@router.post(
    "/{program_id}/enrollments",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrollmentOut,
    responses=error_responses(409),
)
async def enroll(program_id: str, body: EnrollIn, service: Service, principal: Caller) -> EnrollmentOut:
    """Enrol a person by their id on a channel; the program starts at once.

    Only people who have talked to this creator's twin (or joined with its link) can be enrolled, and
    only on a channel this instance runs: anyone else is refused with 422 saying why."""
    async with service.sessions() as session:
        await _owned(session, service, principal, program_id)
    try:
        row = await service.programs.enroll(
            program_id, body.channel, body.user_id, display_name=body.user_name
        )
    except EnrollmentRefusedError as exc:
        # Someone who never talked to this creator, or a channel this instance cannot send on.
        raise _unprocessable(str(exc)) from None
    except EnrollmentError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return enrollment_out(row)


@router.get("/{program_id}/enrollments", response_model=EnrollmentListOut)
async def list_enrollments(program_id: str, service: Service, principal: Caller) -> EnrollmentListOut:
    """Everyone enrolled, with where they are."""
    async with service.sessions() as session:
        await _owned(session, service, principal, program_id)
        rows = list(
            await session.scalars(
                select(Enrollment).where(Enrollment.program_id == program_id).order_by(Enrollment.enrolled_at)
            )
        )
    return EnrollmentListOut(
        program_id=program_id, enrollments=[enrollment_out(row) for row in rows], total=len(rows)
    )
