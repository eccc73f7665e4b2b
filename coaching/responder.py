"""The responder: turns a question into a reply from the creator's materials, persona and memory."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from channels.messages import Source
from coaching.generation import ChatTurn, ContextPassage, GenerationRequest, Generator
from coaching.knowledge_seam import KnowledgeRetriever, NoKnowledge, PersonaProvider, PlainPersona

log = logging.getLogger(__name__)
_CITATION = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True, slots=True)
class Answer:
    """A reply with the sources it used and which generator wrote it."""

    text: str
    sources: tuple[Source, ...]
    generator: str
    fallback_reason: str | None = None


class Responder:
    """Retrieval, persona and memory around a generator."""

    def __init__(
        self,
        generator: Generator,
        knowledge: KnowledgeRetriever | None = None,
        personas: PersonaProvider | None = None,
        *,
        passages: int = 5,
    ) -> None:
        self.generator = generator
        self.knowledge: KnowledgeRetriever = knowledge or NoKnowledge()
        self.personas: PersonaProvider = personas or PlainPersona()
        self.passages = passages

    async def answer(
        self,
        *,
        creator_id: str,
        creator_name: str,
        question: str,
        history: tuple[ChatTurn, ...] = (),
        max_chars: int | None = None,
    ) -> Answer:
        """Answer a question as the creator's twin."""
        try:
            context = tuple(await self.knowledge.retrieve(creator_id, question, self.passages))
        except Exception:
            # Search being down (embedding server, vector store) must not cost the person an answer.
            log.warning(
                "knowledge search failed for creator %s; answering without it", creator_id, exc_info=True
            )
            context = ()
        persona = await self.personas.persona(creator_id, creator_name)
        request = GenerationRequest(
            persona=persona, question=question, history=history, context=context, max_chars=max_chars
        )
        generation = await self.generator.generate(request)
        return Answer(
            text=generation.text.strip(),
            sources=cited_sources(generation.text, context),
            generator=generation.generator,
            fallback_reason=generation.fallback_reason,
        )


def cited_sources(text: str, context: tuple[ContextPassage, ...]) -> tuple[Source, ...]:
    """The sources the reply cites with [n] markers, in order of first citation."""
    seen: list[int] = []
    for match in _CITATION.finditer(text):
        number = int(match.group(1))
        if 1 <= number <= len(context) and number not in seen:
            seen.append(number)
    return tuple(context[number - 1].source for number in seen)
