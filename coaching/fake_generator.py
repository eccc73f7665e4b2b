"""A generator for tests and benchmarks: answers instantly with a scripted reply and records requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from coaching.generation import Generation, GenerationRequest
from coaching.status import ComponentStatus


class ScriptedGenerator:
    """Replies with `script(request)` (by default an echo), after an optional delay."""

    name = "scripted"

    def __init__(
        self, script: Callable[[GenerationRequest], str] | None = None, *, delay_seconds: float = 0.0
    ) -> None:
        self._script = script or (lambda request: f"echo: {request.question}")
        self.delay_seconds = delay_seconds
        self.requests: list[GenerationRequest] = []
        self.fail_next = 0  # how many coming calls raise, to test retries

    async def generate(self, request: GenerationRequest) -> Generation:
        """The scripted reply."""
        self.requests.append(request)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.fail_next > 0:
            self.fail_next -= 1
            raise RuntimeError("scripted failure")
        return Generation(self._script(request), self.name)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        """The scripted reply in one piece."""
        yield (await self.generate(request)).text

    async def check(self) -> ComponentStatus:
        """Always ready."""
        return ComponentStatus("real", "scripted test generator")

    async def aclose(self) -> None:
        """Nothing to close."""
