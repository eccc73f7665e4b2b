"""The responder: turns a question into a reply from the creator's materials, persona and memory."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from channels.messages import Source
from coaching.generation import ChatTurn, ContextPassage, GenerationRequest, Generator, Persona
from coaching.knowledge_seam import KnowledgeRetriever, NoKnowledge, PersonaProvider, PlainPersona

log = logging.getLogger(__name__)
_CITATION = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True, slots=True)
class Answer:
    """A reply with the sources it cites, the passages it was given, and where the time went.

    `timings` (milliseconds): `retrieval`, `persona`, `first_text` (until the generator's first
    piece), `generation` (the generator in all) and `total`.
    """

    text: str
    sources: tuple[Source, ...]
    generator: str
    fallback_reason: str | None = None
    context: tuple[ContextPassage, ...] = ()
    persona: Persona | None = None
    timings: dict[str, float] = field(default_factory=dict)


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
        on_text: Callable[[str], Awaitable[None]] | None = None,
        persona: Persona | None = None,
    ) -> Answer:
        """Answer a question as the creator's twin.

        With `on_text`, the reply is streamed: each piece is handed over as the generator makes it,
        so a channel can show the start of a long answer before the end is written. `persona`
        overrides the creator's own (a program step with its personality switched off).
        """
        started = time.perf_counter()
        try:
            context = tuple(await self.knowledge.retrieve(creator_id, question, self.passages))
        except Exception:
            # Search being down (embedding server, vector store) must not cost the person an answer.
            log.warning(
                "knowledge search failed for creator %s; answering without it", creator_id, exc_info=True
            )
            context = ()
        retrieved = time.perf_counter()
        persona = persona or await self.personas.persona(creator_id, creator_name)
        prepared = time.perf_counter()
        request = GenerationRequest(
            persona=persona, question=question, history=history, context=context, max_chars=max_chars
        )
        first_text: float | None = None
        if on_text is None:
            generation = await self.generator.generate(request)
            text, generator, fallback_reason = (
                generation.text,
                generation.generator,
                generation.fallback_reason,
            )
            first_text = time.perf_counter()
        else:
            pieces: list[str] = []
            async for piece in self.generator.stream(request):
                if first_text is None:
                    first_text = time.perf_counter()
                pieces.append(piece)
                await on_text(piece)
            text, generator, fallback_reason = "".join(pieces), self.generator.name, None
        finished = time.perf_counter()
        timings = {
            "retrieval": _ms(retrieved - started),
            "persona": _ms(prepared - retrieved),
            "first_text": _ms((first_text or finished) - prepared),
            "generation": _ms(finished - prepared),
            "total": _ms(finished - started),
        }
        return Answer(
            text=text.strip(),
            sources=cited_sources(text, context),
            generator=generator,
            fallback_reason=fallback_reason,
            context=context,
            persona=persona,
            timings=timings,
        )


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def cited_sources(text: str, context: tuple[ContextPassage, ...]) -> tuple[Source, ...]:
    """The sources the reply cites with [n] markers, in order of first citation."""
    seen: list[int] = []
    for match in _CITATION.finditer(text):
        number = int(match.group(1))
        if 1 <= number <= len(context) and number not in seen:
            seen.append(number)
    return tuple(context[number - 1].source for number in seen)
