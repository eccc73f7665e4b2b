"""What a reply generator is given and gives back, and the interface every generator implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from bot.foundation.messages import Source
from coaching.status import ComponentStatus


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """One earlier turn of the conversation (the memory)."""

    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True, slots=True)
class PassageSentence:
    """A sentence of a passage: its [start, end) offsets in the passage's text and its cosine similarity
    to the question (from the sentence vector stored at ingestion; None where none was stored)."""

    start: int
    end: int
    similarity: float | None = None


@dataclass(frozen=True, slots=True)
class ContextPassage:
    """A passage of the creator's material retrieved for this question, with where it came from.

    `kind` is what the passage is (`coaching.documents.passage_kinds`): only prose and lists are
    quoted. `sentences` are filled by the knowledge base when it stored them at ingestion.
    """

    text: str
    source: Source
    kind: str = "prose"
    sentences: tuple[PassageSentence, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplyStyle:
    """How the creator phrases things, for generators that write without a model (the offline one).

    A model gets the style in the system prompt instead; this is the same profile made mechanical.
    Every phrase is the creator's own, from their documents (`coaching/personality/phrasebook.py`).
    """

    openers: tuple[str, ...] = ()  # one is put before an answer (chosen per question, stably)
    closers: tuple[str, ...] = ()  # one is put after it
    max_sentences: int = 4  # how many of the material's sentences an answer quotes at most
    transitions: tuple[str, ...] = ()  # additive openings ("Again,") put between quotes from two passages


@dataclass(frozen=True, slots=True)
class Persona:
    """Who the twin is speaking as: the system prompt for a model, and the style for offline answers."""

    creator_name: str
    system_prompt: str
    style: ReplyStyle | None = None


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """Everything a generator needs to answer one question."""

    persona: Persona
    question: str
    history: tuple[ChatTurn, ...] = ()
    context: tuple[ContextPassage, ...] = ()
    max_chars: int | None = None  # a soft length target (SMS wants concise answers)


@dataclass(frozen=True, slots=True)
class Generation:
    """A generated reply and which generator produced it.

    `fallback_reason` is set when the preferred generator failed and another one answered.
    """

    text: str
    generator: str
    fallback_reason: str | None = None


@runtime_checkable
class Generator(Protocol):
    """A reply generator: the Ollama model, the offline generator, or a test fake."""

    name: str

    async def generate(self, request: GenerationRequest) -> Generation:
        """Produce the whole reply."""
        ...

    def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        """Produce the reply in pieces as they come (for typing indicators and live pages)."""
        ...

    async def check(self) -> ComponentStatus:
        """Find out whether the generator can answer now (cheap; called at start and by health)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
