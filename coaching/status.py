"""Health reporting shared by the coaching components."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["real", "degraded", "off"]


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    """Whether a component runs on its real backend, on a fallback (`degraded`), or not at all, and why."""

    state: State
    detail: str
