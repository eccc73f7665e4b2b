"""The offline personality analyser: a profile from the text itself, with no model.

Confidence grows with the evidence: a dimension measured over `n` observations (words for word-rate
dimensions, sentences for directness) has confidence `n / (n + half)`, with `half` = 1,500 words or
60 sentences (the amount at which it is 0.5). The profile's `confidence_score` is the mean of its
dimensions' confidences, times `d / (d + 0.5)` for `d` documents (one document: 0.67; three: 0.86),
since one document can be one mood of its author.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from coaching.personality.features import measure_style
from coaching.personality.lexicons import DIMENSIONS, find_methodologies, key_phrases, score_dimensions
from coaching.personality.phrasebook import extract_phrasebook
from coaching.personality.profile import PROFILE_FORMAT, PersonalityProfile, Trait
from coaching.personality.signature import build_signature

HALF_CONFIDENCE_WORDS = 1500
HALF_CONFIDENCE_SENTENCES = 60
_SENTENCE_DIMENSIONS = frozenset({"directness"})


def evidence_confidence(observations: int, half: int) -> float:
    """`n / (n + half)`: 0 with no evidence, 0.5 at `half`, approaching 1."""
    return observations / (observations + half) if observations > 0 else 0.0


class OfflineAnalyser:
    """Stylometrics, lexicons and key phrases: a reproducible profile from the documents' text."""

    name = "offline"

    async def analyse(self, creator_id: str, texts: Sequence[str]) -> PersonalityProfile:
        """The profile of the author of `texts` (one string per document)."""
        return analyse_texts(creator_id, texts)


def analyse_texts(creator_id: str, texts: Sequence[str]) -> PersonalityProfile:
    """The offline profile (synchronous; `OfflineAnalyser.analyse` wraps it)."""
    text = "\n\n".join(texts)
    style = measure_style(text)
    scores = score_dimensions(text, style)
    traits = []
    for dimension in DIMENSIONS:
        score = scores[dimension]
        half = HALF_CONFIDENCE_SENTENCES if dimension in _SENTENCE_DIMENSIONS else HALF_CONFIDENCE_WORDS
        traits.append(
            Trait(dimension, round(score.value, 3), round(evidence_confidence(score.evidence, half), 3))
        )
    documents = sum(1 for item in texts if item.strip())
    coverage = documents / (documents + 0.5) if documents else 0.0
    confidence = sum(trait.confidence for trait in traits) / len(traits) * coverage
    methods = find_methodologies(text, style.words)
    phrases = key_phrases(text)
    profile = PersonalityProfile(
        creator_id=creator_id,
        personality_summary="",
        traits=tuple(traits),
        key_methodologies=tuple(method.name for method in methods),
        confidence_score=round(confidence, 3),
        style_features={name: round(value, 4) for name, value in style.features.items()},
        evidence={
            "documents": documents,
            "words": style.words,
            "sentences": style.sentences,
            "methodology_mentions": {
                method.name: {"mentions": method.mentions, "per_1000_words": method.per_thousand_words}
                for method in methods
            },
            "key_phrases": [{"phrase": phrase, "count": count} for phrase, count in phrases],
        },
        analyser="offline",
        signature=build_signature(texts),
        phrasebook=extract_phrasebook(texts),
        profile_format=PROFILE_FORMAT,
    )
    return _with_summary(profile)


def _with_summary(profile: PersonalityProfile) -> PersonalityProfile:
    return replace(profile, personality_summary=describe(profile))


def describe(profile: PersonalityProfile) -> str:
    """A plain-language summary of a profile, made from its measured values."""
    if not profile.evidence.get("words"):
        return "No documents analysed yet."
    f = profile.style_features
    length = f.get("avg_sentence_words", 0.0)
    sentences = "short, punchy" if length < 12 else "medium-length" if length < 20 else "long, measured"
    strong = [trait.dimension for trait in profile.dominant_traits if trait.value >= 0.5]
    weak = [trait.dimension for trait in profile.traits if trait.value <= 0.25]
    parts = [f"Writes in {sentences} sentences (about {length:.0f} words each)"]
    if strong:
        parts.append("comes across as high in " + _join(strong))
    if weak:
        parts.append("low in " + _join(weak))
    habits = []
    if f.get("second_person_rate", 0) >= 0.02:
        habits.append("speaks to the reader as “you”")
    if f.get("question_rate", 0) >= 0.1:
        habits.append("asks the reader questions")
    if f.get("imperative_rate", 0) >= 0.1:
        habits.append("gives direct instructions")
    if f.get("exclamation_rate", 0) >= 0.05:
        habits.append("uses exclamations")
    if habits:
        parts.append(_join(habits))
    summary = "; ".join(parts) + "."
    if profile.key_methodologies:
        summary += " Draws on: " + ", ".join(profile.key_methodologies) + "."
    return summary


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
