"""What a program step may say: step types, triggers and actions, validated with messages that say why.

`trigger_config` (when a step runs, relative to the one before):

    {"trigger_type": "TIME_BASED", "schedule": "daily", "time": "08:00"}     next 08:00, user's time
    {"trigger_type": "TIME_BASED", "schedule": "daily"}                      next 09:00 (the default time)
    {"trigger_type": "TIME_BASED", "cron": "0 8 * * 1-5"}                    next cron time, user's time
    {"trigger_type": "TIME_BASED", "delay_seconds": 3600, "after": "enrollment" | "previous_step"}
    {"trigger_type": "EVENT", "event": "enrollment" | "reply" | "keyword", "keywords": [...]}
    {} or absent                                                             at once, after the previous

`action_config` by step type:

    MESSAGE    message_template, use_knowledge_context, use_personality, context_query, fallback_text
               (said in place of {enhanced_content} when the materials do not cover the query)
    QUESTION   as MESSAGE, plus answer_name (where the reply is kept) and choices (buttons)
    WAIT       nothing (its trigger is the wait)
    CONDITION  condition, if_true, if_false (step names; "next" or "end" also allowed)
    ACTION     action: "tag" (tag), "enroll" (program), "end", or "set" (variable, value)
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from programs.conditions import ConditionError, parse_condition

log = logging.getLogger(__name__)


class StepType(StrEnum):
    """The five step types of the seed."""

    MESSAGE = "MESSAGE"
    QUESTION = "QUESTION"
    WAIT = "WAIT"
    CONDITION = "CONDITION"
    ACTION = "ACTION"


class ConfigError(ValueError):
    """A step's configuration is wrong; the message names the field and the problem."""


# A daily step with no `time` (the seed's own example has none) runs at this local time.
DEFAULT_DAILY_TIME = "09:00"
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
PLACEHOLDERS = (
    "user_name",
    "program_title",
    "step_name",
    "day",
    "knowledge_context",
    "enhanced_content",
)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}")


class TriggerConfig(BaseModel):
    """When a step runs. Empty means: right after the step before."""

    model_config = ConfigDict(extra="forbid")

    trigger_type: Literal["TIME_BASED", "EVENT", "IMMEDIATE"] = "IMMEDIATE"
    schedule: Literal["daily"] | None = None
    time: str | None = None
    cron: str | None = None
    delay_seconds: float | None = Field(None, ge=0, le=366 * 86400)
    after: Literal["enrollment", "previous_step"] = "previous_step"
    event: Literal["enrollment", "reply", "keyword"] | None = None
    keywords: list[str] = Field(default_factory=list)

    @field_validator("time")
    @classmethod
    def _check_time(cls, value: str | None) -> str | None:
        if value is not None and not _TIME.match(value):
            raise ValueError("use HH:MM on a 24-hour clock, e.g. 08:00")
        return value

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                cron_trigger(value, "UTC")
            except ValueError as exc:
                raise ValueError(f"not a valid cron expression ({exc}); e.g. '0 8 * * 1-5'") from None
        return value

    @model_validator(mode="after")
    def _check_shape(self) -> TriggerConfig:
        if self.trigger_type == "TIME_BASED":
            if self.schedule == "daily" and self.time is None:
                self.time = DEFAULT_DAILY_TIME
            forms = [
                self.schedule is not None or self.time is not None,
                self.cron is not None,
                self.delay_seconds is not None,
            ]
            if sum(forms) != 1:
                raise ValueError(
                    "a TIME_BASED trigger needs exactly one of: schedule 'daily' with time 'HH:MM', "
                    "cron, or delay_seconds"
                )
            if (self.schedule is None) != (self.time is None):
                raise ValueError("schedule 'daily' and time 'HH:MM' go together")
        elif self.trigger_type == "EVENT":
            if self.event is None:
                raise ValueError("an EVENT trigger needs event: 'enrollment', 'reply' or 'keyword'")
            if self.event == "keyword" and not [word for word in self.keywords if word.strip()]:
                raise ValueError("a keyword trigger needs keywords: a list of words")
        return self

    def describe(self) -> str:
        """A short human description (diagrams, the dashboard)."""
        if self.trigger_type == "TIME_BASED":
            if self.time:
                return f"daily at {self.time}"
            if self.cron:
                return f"cron {self.cron}"
            return f"{_duration(self.delay_seconds or 0)} after {self.after.replace('_', ' ')}"
        if self.trigger_type == "EVENT":
            if self.event == "keyword":
                return "on keyword " + "/".join(self.keywords)
            return f"on {self.event}"
        return "at once"


class Choice(BaseModel):
    """A button of a QUESTION step."""

    label: str = Field(min_length=1, max_length=64)
    value: str = Field(min_length=1, max_length=64)


class ActionConfig(BaseModel):
    """What a step does; which fields apply depends on its type (see the module docstring)."""

    model_config = ConfigDict(extra="allow")

    message_template: str | None = Field(None, max_length=4000)
    use_knowledge_context: bool = False
    use_personality: bool = True
    context_query: str | None = Field(None, max_length=1000)
    fallback_text: str | None = Field(None, max_length=2000)
    answer_name: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    choices: list[Choice] = Field(default_factory=list, max_length=10)
    condition: str | None = None
    if_true: str | None = None
    if_false: str | None = None
    action: Literal["tag", "enroll", "end", "set"] | None = None
    tag: str | None = Field(None, max_length=64)
    program: str | None = None
    variable: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value: Any = None

    @field_validator("choices", mode="before")
    @classmethod
    def _plain_choices(cls, value: Any) -> Any:
        # ["Yes", "No"] is a fine shorthand for [{"label": "Yes", "value": "Yes"}, ...].
        if isinstance(value, list):
            return [{"label": item, "value": item} if isinstance(item, str) else item for item in value]
        return value


def clock_time(text: str) -> time:
    """`HH:MM` (or `H:MM`) on a 24-hour clock as a time; `ValueError` saying the form otherwise."""
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError("use HH:MM on a 24-hour clock, e.g. 07:30")
    return time(int(match.group(1)), int(match.group(2)))


def normal_clock(text: str) -> str:
    """The one stored form of a clock time: `1:00` becomes `01:00`."""
    return clock_time(text).strftime("%H:%M")


def read_quiet_hours(start: str | None, end: str | None) -> tuple[time, time] | None:
    """A program's stored quiet hours, read leniently: a value saved before the API checked them
    (`1:00`) still works, and one that cannot be read is ignored (logged), so that enrolled people
    keep getting their steps."""
    if not (start and end):
        return None
    try:
        return clock_time(start), clock_time(end)
    except ValueError:
        log.warning("quiet hours %r-%r cannot be read; ignoring them", start, end)
        return None


def load_config(value: Any, field: str) -> dict[str, Any]:
    """A config given as an object or as the seed's JSON string (`*_json` fields)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{field}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from None
    if not isinstance(value, dict):
        raise ConfigError(f"{field}: must be a JSON object, not {type(value).__name__}")
    return value


def validate_step(
    step_type: str, trigger: dict[str, Any], action: dict[str, Any], step_names: set[str] | None = None
) -> tuple[StepType, TriggerConfig, ActionConfig]:
    """Check a step's type and configs together; raises `ConfigError` saying what is wrong."""
    try:
        kind = StepType(step_type.upper())
    except ValueError:
        raise ConfigError(f"step_type: use one of {', '.join(t.value for t in StepType)}") from None
    parsed_trigger = _model(TriggerConfig, trigger, "trigger_config")
    parsed_action = _model(ActionConfig, action, "action_config")
    _check_action(kind, parsed_action, step_names)
    return kind, parsed_trigger, parsed_action


def _model(model: type[BaseModel], data: dict[str, Any], field: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{field}.{where}: {message}" if where else f"{field}: {message}")
        raise ConfigError("; ".join(problems)) from None


def _check_action(kind: StepType, action: ActionConfig, step_names: set[str] | None) -> None:
    if kind in (StepType.MESSAGE, StepType.QUESTION):
        if not (action.message_template or action.use_knowledge_context):
            raise ConfigError(
                "action_config.message_template: a MESSAGE or QUESTION step needs a message_template "
                "(or use_knowledge_context with a context_query)"
            )
        if action.use_knowledge_context and not (action.context_query or action.message_template):
            raise ConfigError("action_config.context_query: say what to look up in the creator's documents")
        for name in _PLACEHOLDER.findall(action.message_template or ""):
            if name not in PLACEHOLDERS and not name.startswith(("answer.", "var.")):
                raise ConfigError(
                    f"action_config.message_template: unknown placeholder {{{name}}}; use "
                    + ", ".join(f"{{{known}}}" for known in PLACEHOLDERS)
                    + ", {answer.<name>} or {var.<name>}"
                )
    if kind == StepType.QUESTION and not action.answer_name:
        raise ConfigError("action_config.answer_name: a QUESTION step needs a name to keep the answer under")
    if kind == StepType.CONDITION:
        if not action.condition:
            raise ConfigError("action_config.condition: a CONDITION step needs a condition")
        try:
            parse_condition(action.condition)
        except ConditionError as exc:
            raise ConfigError(f"action_config.condition: {exc}") from None
        for branch in (action.if_true, action.if_false):
            if (
                branch
                and branch not in ("next", "end")
                and step_names is not None
                and branch not in step_names
            ):
                raise ConfigError(f"action_config: no step named {branch!r} to branch to")
    if kind == StepType.ACTION:
        if action.action is None:
            raise ConfigError("action_config.action: use 'tag', 'enroll', 'end' or 'set'")
        if action.action == "tag" and not action.tag:
            raise ConfigError("action_config.tag: say which tag to give the user")
        if action.action == "enroll" and not action.program:
            raise ConfigError("action_config.program: say which program (id or title) to enrol into")
        if action.action == "set" and not action.variable:
            raise ConfigError("action_config.variable: say which variable to set")


def next_daily(after: datetime, time_text: str, zone: ZoneInfo) -> datetime:
    """The first `HH:MM` local time strictly after `after` (aware), in UTC-aware form."""
    hour, minute = (int(part) for part in time_text.split(":"))
    local = after.astimezone(zone)
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate <= local:
        candidate = (local + timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)
    # Re-localise so a DST change between the two days keeps the wall-clock time.
    naive = candidate.replace(tzinfo=None)
    return naive.replace(tzinfo=zone).astimezone(after.tzinfo)


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_trigger(expression: str, zone: ZoneInfo | str) -> CronTrigger:
    """A standard five-field crontab line as an APScheduler trigger.

    APScheduler counts weekdays from Monday = 0, crontab from Sunday = 0 (7 too), so numeric weekdays
    are turned into names first: "1-5" means Monday to Friday, as everywhere else.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    weekday = (
        re.sub(r"\d+", lambda match: _weekday_name(match.group()), weekday) if "/" not in weekday else weekday
    )
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone=zone)


def _weekday_name(number: str) -> str:
    value = int(number)
    if value > 7:
        raise ValueError(f"weekday {value} is out of range (0-7, 0 and 7 are Sunday)")
    return _WEEKDAYS[value % 7]


def next_cron(after: datetime, expression: str, zone: ZoneInfo) -> datetime | None:
    """The first time the cron expression fires strictly after `after`, in the user's zone."""
    trigger = cron_trigger(expression, zone)
    fire: datetime | None = trigger.get_next_fire_time(None, after + timedelta(seconds=1))
    return fire.astimezone(after.tzinfo) if fire is not None else None


def _duration(seconds: float) -> str:
    if seconds and seconds % 86400 == 0:
        days = int(seconds // 86400)
        return f"{days} day{'s' if days != 1 else ''}"
    if seconds and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"
