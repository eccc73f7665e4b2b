"""The responder: turns a question into a reply from the creator's materials, persona and memory.

Only prose and lists are given to the generator (a table of contents is searchable, never an answer).
When the retriever's calibrated answerability model says the material does not answer the question,
Coachline declines itself, without asking the model to guess. Citations are renumbered to the order
the reply cites them, so every `[n]` names exactly one of the sources sent with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.foundation.messages import Source
from coaching.answerability import ReplyLimits
from coaching.citations import Renumbering, renumber, tidy
from coaching.documents.passage_kinds import is_quotable
from coaching.generation import ChatTurn, ContextPassage, GenerationRequest, Generator, Persona
from coaching.knowledge_seam import KnowledgeRetriever, NoKnowledge, PersonaProvider, PlainPersona
from coaching.offline import DEFAULT_OFFLINE_MAX_CHARS, decline_text, small_talk_kind

log = logging.getLogger(__name__)
DECLINED_BY = "coachline"  # the `generator` of a reply Coachline declined without a model


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
    declined: bool = False  # the material does not answer it: the reply says so and cites nothing
    answerability: float | None = None  # the calibrated model's probability, when it judged


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
        has_material: bool | None = None,
    ) -> Answer:
        """Answer a question as the creator's twin.

        With `on_text`, the reply is streamed: each piece is handed over as the generator makes it,
        so a channel can show the start of a long answer before the end is written. `persona`
        overrides the creator's own (a program step with its personality switched off).
        `has_material=False` says the caller has just read that the creator has no ready document
        (the chat path reads it with the sender): nothing is searched or judged then, as the
        knowledge base would find nothing; None leaves it to the knowledge base to find out.
        """
        started = time.perf_counter()
        # The persona first: its reply style says how many sentences an answer quotes, which the
        # answerability judgement's sentence choice must match for the generator to reuse it.
        persona = persona or await self.personas.persona(creator_id, creator_name)
        prepared = time.perf_counter()
        try:
            context = (
                tuple(await self.knowledge.retrieve(creator_id, question, self.passages))
                if has_material is not False
                else ()
            )
        except Exception:
            # Search being down (embedding server, vector store) must not cost the person an answer.
            log.warning(
                "knowledge search failed for creator %s; answering without it", creator_id, exc_info=True
            )
            context = ()
        context = tuple(passage for passage in context if is_quotable(passage.kind))
        judgement = None
        if has_material is not False and small_talk_kind(question) is None:
            try:
                limits = ReplyLimits(
                    max_chars or DEFAULT_OFFLINE_MAX_CHARS,
                    persona.style.max_sentences if persona.style is not None else 4,
                )
                judgement = await self.knowledge.judge(creator_id, question, context, limits)
            except Exception:
                log.warning("answerability failed for creator %s", creator_id, exc_info=True)
        retrieved = time.perf_counter()
        if judgement is not None and not judgement.answerable:
            text = decline_text(creator_name)
            if on_text is not None:
                await on_text(text)
            finished = time.perf_counter()
            return Answer(
                text=text,
                sources=(),
                generator=DECLINED_BY,
                context=context,
                persona=persona,
                timings=_timings(started, prepared, retrieved, finished, finished),
                declined=True,
                answerability=judgement.probability,
            )
        request = GenerationRequest(
            persona=persona,
            question=question,
            history=history,
            context=context,
            max_chars=max_chars,
            # The judgement already chose the sentences an extractive answer quotes: not chosen twice.
            selection=judgement.selection if judgement is not None else None,
        )
        first_text: float | None = None
        renumbering = Renumbering(context)
        if on_text is None:
            generation = await self.generator.generate(request)
            text, generator, fallback_reason = (
                generation.text,
                generation.generator,
                generation.fallback_reason,
            )
            first_text = time.perf_counter()
            text, sources = renumber(text, context)
        else:
            pieces: list[str] = []
            async for piece in self.generator.stream(request):
                if first_text is None:
                    first_text = time.perf_counter()
                shown = renumbering.feed(piece)
                pieces.append(shown)
                if shown:
                    await on_text(shown)
            rest = renumbering.finish()
            if rest:
                pieces.append(rest)
                await on_text(rest)
            text, generator, fallback_reason = tidy("".join(pieces)), self.generator.name, None
            sources = renumbering.sources
        finished = time.perf_counter()
        text = text.strip()
        return Answer(
            text=text,
            sources=sources,
            generator=generator,
            fallback_reason=fallback_reason,
            context=context,
            persona=persona,
            timings=_timings(started, prepared, retrieved, first_text or finished, finished),
            declined=not sources and text == decline_text(creator_name)[: len(text)],
            answerability=judgement.probability if judgement is not None else None,
        )


def _timings(
    started: float, prepared: float, retrieved: float, first: float, finished: float
) -> dict[str, float]:
    return {
        "persona": _ms(prepared - started),
        "retrieval": _ms(retrieved - prepared),  # with the answerability judgement
        "first_text": _ms(first - retrieved),
        "generation": _ms(finished - retrieved),
        "total": _ms(finished - started),
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
