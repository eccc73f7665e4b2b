"""The programs API's request and response bodies: the seed's field names, with richer ones beside."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, field_validator

from bot.foundation.api_requests import RequestModel
from channels.registry import check_channel_name
from programs.engine import facts_for
from programs.models import Enrollment, Program, ProgramStep
from programs.runner import state_of
from programs.spec import normal_clock, read_quiet_hours

# --- requests ------------------------------------------------------------------------------------


class QuietHoursIn(RequestModel):
    """A daily window, local to each user, in which no step is sent (`HH:MM`; `7:30` is read as `07:30`)."""

    start: str = Field(pattern=r"^([01]?\d|2[0-3]):[0-5]\d$", examples=["22:00"])
    end: str = Field(pattern=r"^([01]?\d|2[0-3]):[0-5]\d$", examples=["07:30"])

    @field_validator("start", "end")
    @classmethod
    def _two_digit_hours(cls, value: str) -> str:
        # Stored as HH:MM, the one form every reader of it expects.
        return normal_clock(value)


class StepIn(RequestModel):
    """A step in the seed's shape."""

    step_name: str = Field(min_length=1, max_length=120)
    step_type: str
    trigger_config: dict[str, Any] | None = None
    action_config: dict[str, Any] | None = None
    trigger_config_json: str | None = None
    action_config_json: str | None = None
    order: int | None = Field(None, ge=0)


class ProgramIn(RequestModel):
    """A new program (active unless `status` says draft)."""

    title: str = Field(min_length=1, max_length=200)
    description: str | None = None
    enable_personality: bool = True
    enable_analytics: bool = True
    status: Literal["draft", "active", "archived"] = "active"
    quiet_hours: QuietHoursIn | None = None
    steps: list[StepIn] = Field(default_factory=list)
    creator_id: str | None = None


class ProgramUpdate(RequestModel):
    """Fields to change; those left out keep their value. `description` and `quiet_hours` may be
    null (to clear them); the others may not."""

    title: Annotated[str | None, WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200})] = (
        Field(None, min_length=1, max_length=200)
    )
    description: str | None = None
    enable_personality: Annotated[bool | None, WithJsonSchema({"type": "boolean"})] = None
    enable_analytics: Annotated[bool | None, WithJsonSchema({"type": "boolean"})] = None
    status: Annotated[
        Literal["draft", "active", "archived"] | None,
        WithJsonSchema({"type": "string", "enum": ["draft", "active", "archived"]}),
    ] = None
    quiet_hours: QuietHoursIn | None = None

    @field_validator("title", "enable_personality", "enable_analytics", "status")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # The columns cannot be empty: leave the field out to keep its value.
        if value is None:
            raise ValueError("may be left out to keep its value, but not null")
        return value


class ReorderIn(RequestModel):
    """Every step id, in the new order."""

    step_ids: list[str]


class ExecuteIn(RequestModel):
    """Run one step for a test user.

    `user_context` is an object (`user_name`, `day`, `answers: {name: answer}`, and any variables) or,
    as in the seed, a sentence about the user, which the step sees as the variable `user_context`.
    """

    step_id: str | None = None
    step_name: str | None = None
    user_context: dict[str, Any] | str = Field(
        default_factory=dict,
        examples=[
            "User wants morning motivation",
            {"user_name": "Sam", "day": 3, "answers": {"goal": "sleep"}},
        ],
    )
    debug_mode: bool = False


class TestExpressionIn(RequestModel):
    """The seed's test: an expression and the result it should give."""

    expression: str = Field(min_length=1, max_length=2000)
    expected_result: bool | None = None
    description: str | None = Field(None, max_length=1000)


class ConditionsIn(RequestModel):
    """Conditions to try: the seed's `test_expressions` with `variables`, or `condition`/`conditions`
    with `context` (`user_context` too); all three contexts are merged."""

    test_expressions: list[TestExpressionIn] = Field(default_factory=list, max_length=100)
    variables: dict[str, Any] = Field(default_factory=dict)
    condition: str | None = Field(None, max_length=2000)
    conditions: list[str] = Field(default_factory=list, max_length=100)
    context: dict[str, Any] = Field(default_factory=dict)
    user_context: dict[str, Any] = Field(default_factory=dict)


class EnrollIn(RequestModel):
    """Whom to enrol: their id on a channel."""

    channel: str = Field(min_length=1, max_length=32)
    user_id: str = Field(min_length=1, max_length=255)
    user_name: str | None = None

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value: str) -> str:
        return check_channel_name(value)


class TestUser(BaseModel):
    """The test user an executed step is written for, read from `user_context`."""

    user_name: str = Field("there", max_length=200)
    day: int = Field(1, ge=1, le=100_000)
    answers: dict[str, Any] = Field(default_factory=dict)
    variables: dict[str, Any] = Field(default_factory=dict)


def read_test_user(given: dict[str, Any] | str) -> TestUser:
    """`user_context` as a test user; 422 naming the field when a known one has the wrong type."""
    context: dict[str, Any] = {"user_context": given} if isinstance(given, str) else given
    known = {"user_name", "day", "answers"}
    fields = {key: value for key, value in context.items() if key in known and value is not None}
    try:
        return TestUser.model_validate(
            {**fields, "variables": {key: value for key, value in context.items() if key not in known}}
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"user_context.{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors()
        )
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problems) from None


# --- responses -----------------------------------------------------------------------------------


class StepOut(BaseModel):
    """A step in the seed's shape; configs both as objects and as the seed's JSON strings."""

    id: str
    step_id: str
    program_id: str
    step_name: str
    step_type: str
    order: int
    trigger_config: dict[str, Any]
    action_config: dict[str, Any]
    trigger_config_json: str
    action_config_json: str


class QuietHoursOut(BaseModel):
    """The daily window with no steps, `HH:MM` local to each user."""

    start: str
    end: str


class ProgramOut(BaseModel):
    """A program with its steps."""

    id: str
    program_id: str
    creator_id: str
    title: str
    description: str | None
    enable_personality: bool
    enable_analytics: bool
    status: str
    quiet_hours: QuietHoursOut | None
    steps: list[StepOut]
    step_count: int
    enrollment_count: int
    created_at: datetime
    updated_at: datetime


class ProgramListOut(BaseModel):
    """The creator's programs."""

    programs: list[ProgramOut]
    total: int


class ProgramDeletedOut(BaseModel):
    """A deleted program."""

    message: str
    program_id: str


class StepDeletedOut(BaseModel):
    """A deleted step."""

    message: str
    step_id: str


class ReorderOut(BaseModel):
    """The steps in their new order."""

    program_id: str
    steps: list[StepOut]


class StepCheckOut(BaseModel):
    """Whether a step is valid; `error` says why not."""

    valid: bool
    error: str | None
    step_type: str | None = None
    trigger: str | None = Field(None, description="the trigger in words, e.g. 'daily at 09:00'")


class ConditionCheckOut(BaseModel):
    """Whether a condition parses; `position` is where it stops making sense."""

    valid: bool
    error: str | None
    position: int | None
    variables: list[str] | None = None


class ButtonOut(BaseModel):
    """A choice offered with a QUESTION step."""

    label: str
    value: str


class ExecutionResultOut(BaseModel):
    """What the step produced; step types add their own details beside these."""

    model_config = ConfigDict(extra="allow")

    message: str | None
    buttons: list[ButtonOut]
    knowledge_used: list[dict[str, Any]]
    knowledge_context_available: bool
    personality_enhanced: bool
    personality_consistency: float | None


class DebugInfoOut(BaseModel):
    """The step's milestones with their elapsed times (`debug_mode`)."""

    milestones: list[dict[str, Any]]
    total_ms: float


class ExecuteOut(BaseModel):
    """One step run for a test user; `debug_info` only with `debug_mode`."""

    program_id: str
    step_id: str
    step_name: str
    step_type: str
    execution_result: ExecutionResultOut
    execution_time_ms: float
    step_execution: dict[str, Any] = Field(
        description="the seed's shape: step_id, integrations_applied, final_output (null where unmeasured)"
    )
    debug_info: DebugInfoOut | None = None


class ConditionResultOut(BaseModel):
    """A condition evaluated against the context (`error` and `position` when it does not parse)."""

    condition: str
    step_name: str | None
    valid: bool
    result: bool | None
    error: str | None = None
    position: int | None = None
    variables: list[str] | None = None
    missing_variables: list[str] | None = None


class TestResultOut(BaseModel):
    """The seed's test result: `test_passed` when the result is the expected one."""

    expression: str
    result: bool | None
    test_passed: bool
    execution_time_ms: float
    expected_result: bool | None = None
    description: str | None = None
    valid: bool = True
    error: str | None = None
    missing_variables: list[str] = Field(default_factory=list)


class ConditionsOut(BaseModel):
    """Conditions evaluated: `results` for `condition(s)` (or the program's CONDITION steps), and the
    seed's `test_results` and `success_rate` for `test_expressions`."""

    program_id: str
    context: dict[str, Any]
    results: list[ConditionResultOut]
    test_results: list[TestResultOut] = Field(default_factory=list)
    success_rate: float | None = Field(None, description="passed tests / tests; null without tests")


class DiagramOut(BaseModel):
    """The program as Mermaid text."""

    program_id: str
    format: str
    diagram: str


class AnalyticsOut(BaseModel):
    """A program's analytics; every figure is defined in `definitions` (more fields may follow)."""

    model_config = ConfigDict(extra="allow")

    program_id: str
    time_range_days: int
    enrollments: int
    completion_rate: float | None
    definitions: dict[str, Any]
    analytics: dict[str, Any] = Field(
        description="the seed's shape: knowledge_integration, personality_consistency, program_effectiveness"
    )


class EnrollmentOut(BaseModel):
    """An enrolment and where it stands."""

    id: int
    enrollment_id: int
    program_id: str
    user_id: int
    channel: str | None
    channel_user_id: str | None
    status: str
    current_step: int
    awaiting_answer: str | None
    answers: dict[str, Any]
    variables: dict[str, Any]
    steps_delivered: int
    user_engagement_score: float
    next_step_due_at: datetime | None
    enrolled_at: datetime
    completed_at: datetime | None


class EnrollmentListOut(BaseModel):
    """Everyone enrolled in a program."""

    program_id: str
    enrollments: list[EnrollmentOut]
    total: int


def step_out(step: ProgramStep) -> StepOut:
    """A step as the API returns it."""
    return StepOut.model_validate(
        {
            "id": step.id,
            "step_id": step.id,
            "program_id": step.program_id,
            "step_name": step.step_name,
            "step_type": step.step_type,
            "order": step.position,
            "trigger_config": step.trigger_config,
            "action_config": step.action_config,
            "trigger_config_json": json.dumps(step.trigger_config),
            "action_config_json": json.dumps(step.action_config),
        }
    )


def program_out(program: Program, steps: list[ProgramStep], enrollments: int = 0) -> ProgramOut:
    """A program as the API returns it."""
    window = read_quiet_hours(program.quiet_hours_start, program.quiet_hours_end)
    quiet = {"start": window[0].strftime("%H:%M"), "end": window[1].strftime("%H:%M")} if window else None
    return ProgramOut.model_validate(
        {
            "id": program.id,
            "program_id": program.id,
            "creator_id": program.creator_id,
            "title": program.title,
            "description": program.description,
            "enable_personality": program.enable_personality,
            "enable_analytics": program.enable_analytics,
            "status": program.status,
            "quiet_hours": quiet,
            "steps": [step_out(step) for step in sorted(steps, key=lambda s: s.position)],
            "step_count": len(steps),
            "enrollment_count": enrollments,
            "created_at": program.created_at,
            "updated_at": program.updated_at,
        }
    )


def enrollment_out(row: Enrollment) -> EnrollmentOut:
    """An enrolment as the API returns it."""
    state = state_of(row, None)
    facts = facts_for(state, row.updated_at)
    return EnrollmentOut.model_validate(
        {
            "id": row.id,
            "enrollment_id": row.id,
            "program_id": row.program_id,
            "user_id": row.user_id,
            "channel": row.conversation_ref.get("channel"),
            "channel_user_id": row.conversation_ref.get("chat_id"),
            "status": row.status,
            "current_step": row.position,
            "awaiting_answer": row.awaiting_answer,
            "answers": row.answers,
            "variables": row.variables,
            "steps_delivered": facts["steps_delivered"],
            "user_engagement_score": facts["user_engagement_score"],
            "next_step_due_at": row.due_at,
            "enrolled_at": row.enrolled_at,
            "completed_at": row.completed_at,
        }
    )
