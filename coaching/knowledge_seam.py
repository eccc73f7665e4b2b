"""The seams the knowledge and personality parts plug into, with the defaults used until they do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from coaching.answerability import Judgement, ReplyLimits
from coaching.generation import ContextPassage, Persona


class KnowledgeRetriever(Protocol):
    """Finds passages of a creator's own material relevant to a question."""

    async def retrieve(self, creator_id: str, question: str, k: int) -> list[ContextPassage]:
        """The best `k` passages, most relevant first."""
        ...

    async def judge(
        self, creator_id: str, question: str, context: Sequence[ContextPassage], limits: ReplyLimits
    ) -> Judgement | None:
        """Whether `context` answers `question` within `limits` (its verdict carries the sentences an
        extractive answer quotes); None when it cannot tell (no calibrated model for the
        embedder, or the creator has no material yet), and the generator decides."""
        ...


class PersonaProvider(Protocol):
    """Says who the twin speaks as, and how."""

    async def persona(self, creator_id: str, creator_name: str) -> Persona:
        """The persona of one creator."""
        ...


class NoKnowledge:
    """Used while a creator has no searchable material: retrieves nothing."""

    async def retrieve(self, creator_id: str, question: str, k: int) -> list[ContextPassage]:
        """Nothing, always."""
        return []

    async def judge(
        self, creator_id: str, question: str, context: Sequence[ContextPassage], limits: ReplyLimits
    ) -> Judgement | None:
        """No material, no verdict."""
        return None


class PlainPersona:
    """A neutral persona built from the creator's name, before any personality profile exists."""

    async def persona(self, creator_id: str, creator_name: str) -> Persona:
        """A warm, honest coaching assistant speaking for the creator."""
        prompt = (
            f"You are the AI twin of {creator_name}, a coach. Speak warmly and directly, in the first person "
            f"as {creator_name}'s assistant. Answer only from {creator_name}'s materials given to you; when "
            f"they do not cover the question, say so plainly instead of guessing. Keep answers short."
        )
        return Persona(creator_name=creator_name, system_prompt=prompt)
