"""A model that answers only when the test says: "acknowledged before the answer" without timing anything."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from coaching.fake_generator import ScriptedGenerator
from coaching.generation import Generation, GenerationRequest


class GatedGenerator(ScriptedGenerator):
    """A `ScriptedGenerator` that holds every answer until `release()`.

    While the gate is shut nothing can be answered, so whatever the test sees then (a webhook's 200, a
    socket acknowledgement) provably came before the answer, however slow the machine is.
    """

    def __init__(self, script: Callable[[GenerationRequest], str] | None = None) -> None:
        super().__init__(script)
        self._gate = asyncio.Event()

    def release(self) -> None:
        """Let every held and future answer through."""
        self._gate.set()

    async def generate(self, request: GenerationRequest) -> Generation:
        """The scripted reply, once released."""
        await self._gate.wait()
        return await super().generate(request)
