"""The creator's digital twin in code, for people who embed Coachline in their own Python.

twin = await service.twin(creator_id)
result = await twin.generate_response("How do I start running?")
result.response, result.knowledge_used, result.personality_consistency
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coaching.generation import ChatTurn
from coaching.personality.service import PersonalityService
from coaching.responder import Responder


@dataclass(frozen=True, slots=True)
class TwinResponse:
    """An answer with the knowledge it was given and how much it sounds like the creator.

    `personality_consistency` is `consistency.consistency(response, profile).score` (None before the
    creator has a profile); `timings` are the responder's, in milliseconds.
    """

    response: str
    knowledge_used: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    personality_consistency: float | None
    consistency_reliability: float | None
    generator: str
    timings: dict[str, float] = field(default_factory=dict)


class CreatorDigitalTwin:
    """One creator's twin: their knowledge, their voice, the configured generator."""

    def __init__(
        self, creator_id: str, creator_name: str, responder: Responder, personality: PersonalityService
    ) -> None:
        self.creator_id = creator_id
        self.creator_name = creator_name
        self._responder = responder
        self._personality = personality

    async def generate_response(
        self,
        message: str,
        *,
        history: tuple[ChatTurn, ...] = (),
        max_chars: int | None = None,
    ) -> TwinResponse:
        """Answer `message` as the creator would, from their materials."""
        answer = await self._responder.answer(
            creator_id=self.creator_id,
            creator_name=self.creator_name,
            question=message,
            history=history,
            max_chars=max_chars,
        )
        score = await self._personality.consistency(self.creator_id, answer.text)
        return TwinResponse(
            response=answer.text,
            knowledge_used=[{"text": passage.text, **passage.source.to_dict()} for passage in answer.context],
            sources=[source.to_dict() for source in answer.sources],
            personality_consistency=score.score if score is not None else None,
            consistency_reliability=score.reliability if score is not None else None,
            generator=answer.generator,
            timings=answer.timings,
        )
