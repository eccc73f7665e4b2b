"""The model-backed personality analyser: Ollama answers in JSON constrained by a schema, validated.

The style features are always measured offline (they are what consistency is scored against). From
the model come the summary, the dimension values and the methodologies. A trait's confidence is the
offline evidence confidence times the agreement between the model and the measurement,
`1 - |model value - measured value|`, so a model claim the text does not bear out counts for less.
Whatever goes wrong — no server, a timeout, JSON that is broken or does not fit the schema — the
offline profile is used and `notes` says why.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import httpx
import ollama
import pydantic

from coaching.llm import FALLBACK_ERRORS, describe_error
from coaching.personality.lexicons import DIMENSIONS
from coaching.personality.offline_analyser import analyse_texts
from coaching.personality.profile import PersonalityProfile, Trait

log = logging.getLogger(__name__)

Dimension = Literal["empathy", "warmth", "encouragement", "humour", "directness", "formality"]
SAMPLE_WORDS = 2500
_UNAVAILABLE: tuple[type[BaseException], ...] = (*FALLBACK_ERRORS, json.JSONDecodeError)


class ModelTrait(pydantic.BaseModel):
    """A trait as the model states it."""

    dimension: Dimension
    value: float = pydantic.Field(ge=0, le=1)
    confidence: float = pydantic.Field(ge=0, le=1)


class ModelProfile(pydantic.BaseModel):
    """The JSON the model must return (its schema is sent as Ollama's `format`)."""

    personality_summary: str = pydantic.Field(min_length=1, max_length=1200)
    dominant_traits: list[ModelTrait] = pydantic.Field(min_length=1, max_length=len(DIMENSIONS))
    key_methodologies: list[str] = pydantic.Field(max_length=8)


class OllamaAnalyser:
    """Asks an Ollama model for the profile; falls back to the offline analysis on any failure."""

    def __init__(self, url: str, model: str, timeout: float) -> None:
        self.model = model
        self.name = f"ollama:{model}"
        self.timeout = timeout
        self._client = ollama.AsyncClient(host=url, timeout=httpx.Timeout(timeout))

    async def analyse(self, creator_id: str, texts: Sequence[str]) -> PersonalityProfile:
        """The model's profile merged with the measured one, or the measured one with a note."""
        measured = analyse_texts(creator_id, texts)
        if not measured.evidence.get("words"):
            return measured
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._client.chat(
                    model=self.model,
                    messages=self._messages(measured, texts),
                    format=ModelProfile.model_json_schema(),
                    stream=False,
                    options={"temperature": 0},
                )
            stated = ModelProfile.model_validate_json(response.message.content or "")
        except pydantic.ValidationError as exc:
            reason = _invalid_json_reason(exc)
            log.warning("personality model answer unusable for %s: %s", creator_id, reason)
            return replace(measured, notes=(f"{self.name} returned {reason}; offline analysis used",))
        except _UNAVAILABLE as exc:
            reason = describe_error(exc)
            log.warning("personality model unavailable for %s: %s", creator_id, reason)
            return replace(measured, notes=(f"{self.name} unavailable ({reason}); offline analysis used",))
        return merge(measured, stated, self.name)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()  # type: ignore[no-untyped-call]

    def _messages(self, measured: PersonalityProfile, texts: Sequence[str]) -> list[dict[str, str]]:
        features = json.dumps(measured.style_features)
        system = (
            "You analyse how a coach writes, from their own documents. Answer only with JSON matching "
            "the schema: a two- or three-sentence personality_summary of their voice and approach; "
            f"dominant_traits with a value and confidence in [0, 1] for each of {', '.join(DIMENSIONS)}; "
            "and the coaching key_methodologies they rely on (short names)."
        )
        user = (
            f"Measured style features: {features}\n\nSample of their writing:\n{sample(texts, SAMPLE_WORDS)}"
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def merge(measured: PersonalityProfile, stated: ModelProfile, analyser: str) -> PersonalityProfile:
    """The model's words and values, with confidences checked against the measurement."""
    by_dimension = {trait.dimension: trait for trait in stated.dominant_traits}
    traits = []
    for trait in measured.traits:
        claim = by_dimension.get(trait.dimension)  # type: ignore[call-overload]
        if claim is None:
            traits.append(trait)
            continue
        agreement = 1.0 - abs(claim.value - trait.value)
        traits.append(Trait(trait.dimension, round(claim.value, 3), round(trait.confidence * agreement, 3)))
    confidence = sum(trait.confidence for trait in traits) / len(traits) if traits else 0.0
    documents = int(measured.evidence.get("documents", 1))
    methods = tuple(name.strip() for name in stated.key_methodologies if name.strip())
    return replace(
        measured,
        personality_summary=stated.personality_summary.strip(),
        traits=tuple(traits),
        key_methodologies=methods or measured.key_methodologies,
        confidence_score=round(confidence * documents / (documents + 0.5), 3),
        analyser=analyser,
    )


def sample(texts: Sequence[str], max_words: int) -> str:
    """About `max_words` words taken evenly from every document, so none dominates the sample."""
    documents = [text.split() for text in texts if text.strip()]
    if not documents:
        return ""
    share = max(1, max_words // len(documents))
    parts = []
    for words in documents:
        if len(words) <= share:
            parts.append(" ".join(words))
            continue
        # Three stretches (start, middle, end) read more like the author than one long stretch.
        third = share // 3
        starts = (0, len(words) // 2 - third // 2, len(words) - third)
        parts.append(" … ".join(" ".join(words[start : start + third]) for start in starts))
    return "\n\n".join(parts)


def _invalid_json_reason(exc: pydantic.ValidationError) -> str:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return "malformed JSON"
    where = ".".join(str(part) for part in first["loc"]) or "answer"
    return f"JSON that does not fit the profile schema ({where}: {first['msg']})"
