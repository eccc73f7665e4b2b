"""How much a text sounds like a profile: a documented similarity of style vectors.

The score compares the text's measured style features and dimension values with the profile's:

    distance_f = min(1, |text_f - profile_f| / scale_f)        for every compared feature f
    score      = 1 - mean(distance_f)                            in [0, 1]; 1 = indistinguishable

`scale_f` is the difference at which a feature counts as entirely different (e.g. 12 words of
average sentence length, 0.25 of the sentences being questions, 0.5 on a dimension). Short texts
give noisy rates, so `reliability = words / (words + 50)` says how much the score can be trusted;
analytics weight scores by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from coaching.personality.features import measure_style
from coaching.personality.lexicons import score_dimensions
from coaching.personality.profile import PersonalityProfile

# The difference at which a feature counts as entirely unlike the profile.
FEATURE_SCALES: dict[str, float] = {
    "avg_sentence_words": 12.0,
    "question_rate": 0.25,
    "exclamation_rate": 0.2,
    "imperative_rate": 0.3,
    "second_person_rate": 0.04,
    "first_person_rate": 0.04,
    "hedge_rate": 0.015,
    "contraction_rate": 0.03,
    "avg_word_length": 1.0,
    "long_word_rate": 0.08,
    "emoji_rate": 0.3,
}
DIMENSION_SCALE = 0.5
RELIABILITY_HALF_WORDS = 50


@dataclass(frozen=True, slots=True)
class ConsistencyScore:
    """A text's similarity to a profile, with the per-feature distances that make it up."""

    score: float
    reliability: float
    distances: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        """The JSON form the API returns."""
        return {
            "consistency_score": self.score,
            "reliability": self.reliability,
            "feature_distances": self.distances,
        }


def consistency(text: str, profile: PersonalityProfile) -> ConsistencyScore:
    """How much `text` sounds like the profile (see the module docstring for the definition)."""
    style = measure_style(text)
    if style.words == 0:
        return ConsistencyScore(0.0, 0.0, {})
    distances: dict[str, float] = {}
    for name, scale in FEATURE_SCALES.items():
        if name in profile.style_features:
            gap = abs(style.features[name] - profile.style_features[name])
            distances[name] = round(min(1.0, gap / scale), 4)
    for dimension, measured in score_dimensions(text, style).items():
        gap = abs(measured.value - profile.trait(dimension))
        distances[f"dimension:{dimension}"] = round(min(1.0, gap / DIMENSION_SCALE), 4)
    score = 1.0 - sum(distances.values()) / len(distances)
    reliability = style.words / (style.words + RELIABILITY_HALF_WORDS)
    return ConsistencyScore(round(score, 4), round(reliability, 4), distances)
