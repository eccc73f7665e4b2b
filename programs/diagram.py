"""A program drawn as a Mermaid flowchart: steps in order, waits on the arrows, branches labelled."""

from __future__ import annotations

import re

from programs.engine import ProgramSpec, StepSpec
from programs.spec import StepType

_SHAPES = {
    StepType.MESSAGE: ('["', '"]'),
    StepType.QUESTION: ('[/"', '"/]'),
    StepType.WAIT: ('(["', '"])'),
    StepType.CONDITION: ('{"', '"}'),
    StepType.ACTION: ('[["', '"]]'),
}


def mermaid(program: ProgramSpec) -> str:
    """The program as `flowchart TD` Mermaid text; an arrow into a step says when it runs."""
    ids = {step.name: f"s{index}" for index, step in enumerate(program.steps)}
    lines = ["flowchart TD", f'    start(("{_label(program.title)}"))']
    for step in program.steps:
        opening, closing = _SHAPES[step.type]
        lines.append(f"    {ids[step.name]}{opening}{_label(_caption(step))}{closing}")
    lines.append('    finish(("end"))')
    first = program.steps[0] if program.steps else None
    lines.append(_arrow("start", ids[first.name] if first else "finish", _when(first)))
    for index, step in enumerate(program.steps):
        after = program.steps[index + 1] if index + 1 < len(program.steps) else None
        following = ids[after.name] if after else "finish"
        if step.type == StepType.CONDITION:
            for label, target in (("yes", step.action.if_true), ("no", step.action.if_false)):
                lines.append(_arrow(ids[step.name], _target(target, ids, following), label))
        elif step.type == StepType.ACTION and step.action.action == "end":
            lines.append(_arrow(ids[step.name], "finish", ""))
        else:
            lines.append(_arrow(ids[step.name], following, _when(after)))
    return "\n".join(lines)


def _when(step: StepSpec | None) -> str:
    if step is None:
        return ""
    described = step.trigger.describe()
    return "" if described == "at once" else described


def _arrow(source: str, target: str, label: str) -> str:
    return f"    {source} -->|{_label(label)}| {target}" if label else f"    {source} --> {target}"


def _target(name: str | None, ids: dict[str, str], following: str) -> str:
    if not name or name == "next":
        return following
    if name == "end":
        return "finish"
    return ids.get(name, following)


def _caption(step: StepSpec) -> str:
    action = step.action
    if step.type == StepType.CONDITION:
        return f"{step.name}: {action.condition}"
    if step.type == StepType.ACTION:
        what = action.tag or action.program or action.variable or ""
        return f"{step.name}: {action.action} {what}".strip()
    if step.type == StepType.QUESTION:
        choices = " / ".join(choice.label for choice in action.choices)
        return f"{step.name}? ({choices})" if choices else f"{step.name}? → {action.answer_name}"
    if step.type == StepType.WAIT:
        return f"{step.name}: wait"
    return step.name


def _label(text: str) -> str:
    # Mermaid labels in quotes: double quotes and brackets would end them early.
    return re.sub(r'["\[\]{}|]', "'", text)[:120]
