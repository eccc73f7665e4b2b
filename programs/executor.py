"""Executing a step: the integrated path (knowledge + personality + generation), one handler per type.

The seed's extension point: `StepHandler.execute(step, context, debug)`, with
`debug.log_milestone(name, data)`. A new step type is one class registered with
`register_step_handler`. MESSAGE and QUESTION steps produce a message; the others describe what the
engine will do with them (the engine itself decides branches and waits).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.foundation.messages import Button, Source
from coaching.documents.passage_kinds import is_quotable
from coaching.knowledge_seam import KnowledgeRetriever, PlainPersona
from coaching.personality.service import PersonalityService
from coaching.responder import Responder
from programs.conditions import parse_condition
from programs.engine import StepSpec
from programs.spec import StepType

# Sent when a step was only `{enhanced_content}`, the materials did not cover it and it has no fallback.
NEUTRAL_FALLBACK = "Keep going with {program_title} today, {user_name}."
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}")


class DebugTrace:
    """Milestones of one execution, with the milliseconds since it began."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._started = time.perf_counter()
        self.milestones: list[dict[str, Any]] = []

    def log_milestone(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        """Record a milestone (a no-op when debugging is off)."""
        if self.enabled:
            elapsed = round((time.perf_counter() - self._started) * 1000, 2)
            self.milestones.append({"milestone": name, "elapsed_ms": elapsed, "data": dict(data or {})})

    @property
    def total_ms(self) -> float:
        """Milliseconds since the trace began."""
        return round((time.perf_counter() - self._started) * 1000, 2)


@dataclass(frozen=True, slots=True)
class StepContext:
    """Who the step is for and what is known about them."""

    creator_id: str
    creator_name: str
    program_title: str
    enable_personality: bool
    user_name: str = "there"
    day: int = 1
    answers: Mapping[str, Any] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepOutput:
    """What executing a step produced."""

    text: str | None = None
    buttons: tuple[Button, ...] = ()
    knowledge_used: tuple[dict[str, Any], ...] = ()
    sources: tuple[Source, ...] = ()  # what the text's [n] cite, in that order
    personality_applied: bool = False
    personality_consistency: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class StepHandler(Protocol):
    """Executes one step type."""

    async def execute(self, step: StepSpec, context: StepContext, debug: DebugTrace) -> StepOutput:
        """Run the step for the person in `context`."""
        ...


class MessageStepHandler:
    """A message: the template, filled with the creator's material and written in their voice."""

    def __init__(
        self, knowledge: KnowledgeRetriever, responder: Responder, personality: PersonalityService
    ) -> None:
        self._knowledge = knowledge
        self._responder = responder
        self._personality = personality

    async def execute(self, step: StepSpec, context: StepContext, debug: DebugTrace) -> StepOutput:
        """Retrieve, generate, fill the template, score the voice."""
        action = step.action
        values = _values(step, context)
        query = render(action.context_query or action.message_template or step.name, values)
        use_personality = action.use_personality and context.enable_personality
        passages: list[Any] = []
        if action.use_knowledge_context:
            passages = await self._knowledge.retrieve(context.creator_id, query, 5)
            debug.log_milestone(
                "knowledge_retrieved",
                {
                    "query": query,
                    "chunks": len(passages),
                    "relevance": [p.source.relevance_score for p in passages],
                },
            )
            # Only prose is pasted into a message; a contents page or a worksheet is not advice.
            values["knowledge_context"] = "\n\n".join(p.text for p in passages if is_quotable(p.kind))
        template = action.message_template or "{enhanced_content}"
        sources: tuple[Source, ...] = ()
        if "{enhanced_content}" in template:
            persona = (
                None
                if use_personality
                else await PlainPersona().persona(context.creator_id, context.creator_name)
            )
            answer = await self._responder.answer(
                creator_id=context.creator_id,
                creator_name=context.creator_name,
                question=query,
                persona=persona,
            )
            passages = passages or list(answer.context)
            debug.log_milestone(
                "content_generated",
                {"generator": answer.generator, "chars": len(answer.text), "timings_ms": answer.timings},
            )
            if answer.declined:
                # A coaching message never pastes "the materials don't cover that": it says the step's
                # own fallback, or the template without the placeholder.
                values["enhanced_content"] = render(action.fallback_text or "", values)
                template = template if action.fallback_text else _without_placeholder(template)
                debug.log_milestone(
                    "knowledge_fallback",
                    {
                        "query": query,
                        "reason": "the materials do not cover the query",
                        "answerability": answer.answerability,
                        "used": "fallback_text"
                        if action.fallback_text
                        else "template without {enhanced_content}",
                    },
                )
            else:
                values["enhanced_content"] = answer.text
                sources = answer.sources
        text = render(template, values).strip() or render(NEUTRAL_FALLBACK, values)
        consistency = (
            await self._personality.consistency(context.creator_id, text) if use_personality else None
        )
        debug.log_milestone(
            "message_ready",
            {"chars": len(text), "personality_consistency": consistency.score if consistency else None},
        )
        buttons = tuple(Button(choice.label, choice.value) for choice in action.choices)
        return StepOutput(
            text=text,
            buttons=buttons,
            knowledge_used=tuple({"text": p.text, **p.source.to_dict()} for p in passages),
            sources=sources,
            personality_applied=use_personality,
            personality_consistency=consistency.score if consistency else None,
        )


class ConditionStepHandler:
    """Evaluates the condition against the context (the engine branches on it)."""

    async def execute(self, step: StepSpec, context: StepContext, debug: DebugTrace) -> StepOutput:
        """The condition's result and the branch it leads to."""
        condition = parse_condition(step.action.condition or "false")
        variables = {**context.variables, "answer": dict(context.answers), "day": context.day}
        result = condition.evaluate(variables)
        branch = step.action.if_true if result else step.action.if_false
        detail = {
            "condition": condition.source,
            "result": result,
            "branch": branch or "next",
            "missing_variables": condition.missing(variables),
        }
        debug.log_milestone("condition_evaluated", detail)
        return StepOutput(detail=detail)


class DescribeStepHandler:
    """WAIT and ACTION steps: nothing to send; says what the engine will do."""

    async def execute(self, step: StepSpec, context: StepContext, debug: DebugTrace) -> StepOutput:
        """A description of the step."""
        detail = {"trigger": step.trigger.describe(), **step.action.model_dump(exclude_defaults=True)}
        debug.log_milestone(f"{step.type.value.lower()}_described", detail)
        return StepOutput(detail=detail)


class StepExecutor:
    """The registry of step handlers, one per step type."""

    def __init__(self, handlers: Mapping[StepType, StepHandler] | None = None) -> None:
        self._handlers: dict[StepType, StepHandler] = dict(handlers or {})

    def register_step_handler(self, step_type: StepType, handler: StepHandler) -> None:
        """Use `handler` for every step of this type."""
        self._handlers[step_type] = handler

    async def execute(self, step: StepSpec, context: StepContext, debug: DebugTrace) -> StepOutput:
        """Run a step with its type's handler."""
        debug.log_milestone("step_started", {"step": step.name, "type": step.type.value})
        return await self._handlers[step.type].execute(step, context, debug)


def default_executor(
    knowledge: KnowledgeRetriever, responder: Responder, personality: PersonalityService
) -> StepExecutor:
    """The built-in handlers for the five step types."""
    message = MessageStepHandler(knowledge, responder, personality)
    describe = DescribeStepHandler()
    return StepExecutor(
        {
            StepType.MESSAGE: message,
            StepType.QUESTION: message,
            StepType.CONDITION: ConditionStepHandler(),
            StepType.WAIT: describe,
            StepType.ACTION: describe,
        }
    )


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill `{name}` placeholders; `{answer.x}` and `{var.x}` read nested values; unknown ones stay."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        head, _, rest = name.partition(".")
        value = values.get(name)
        if value is None and rest:
            nested = values.get(head)
            value = nested.get(rest) if isinstance(nested, Mapping) else None
        return match.group(0) if value is None else str(value)

    return _PLACEHOLDER.sub(fill, template)


def _without_placeholder(template: str) -> str:
    """The template with `{enhanced_content}` taken out, and the blank lines or spaces it leaves."""
    text = template.replace("{enhanced_content}", "")
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _values(step: StepSpec, context: StepContext) -> dict[str, Any]:
    return {
        "user_name": context.user_name,
        "program_title": context.program_title,
        "step_name": step.name,
        "day": context.day,
        "answer": dict(context.answers),
        "var": dict(context.variables),
        "knowledge_context": "",
    }
