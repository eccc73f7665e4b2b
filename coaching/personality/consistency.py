"""How much a text sounds like a profile: a stylometric distance, read against the writer's own passages.

With a signature (every profile analysed since format 2), the text is measured (`stylometry.py`) and
compared feature by feature with the writer's passages (`signature.distance`): `D` is the weighted
mean over features of `|text_f - mean_f| / spread_f + ln(spread_f / floor_f)`, Burrows' Delta in
units of the writer's own variation, read as a Laplace likelihood. `D` becomes a score on one scale
for every writer:

    score = 0.5 ** ((D / D_REF) ** 6)        in (0, 1]

`D_REF = 1.25` lies between the distances measured on 150-word held-out passages of five writers
(the three fixture writers, the Vim user manual, the GPL): a writer's own passages have median
distances of 1.0-1.2 and scores of 0.56-0.84, other writers' passages 1.36-1.57 and 0.07-0.31.
The scale is the same for every profile, so the score ranks two creators' profiles for one
text exactly as their distances do.

Profiles stored before signatures existed (format 1) are scored the old way (`legacy_consistency`)
until the service re-analyses them. Short texts give noisy rates, so `reliability = words / (words +
50)` says how much the score can be trusted; analytics weight scores by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from coaching.personality.features import measure_style
from coaching.personality.lexicons import score_dimensions
from coaching.personality.profile import PersonalityProfile
from coaching.personality.signature import distance
from coaching.personality.stylometry import measure

SCORE_EXPONENT = 6
D_REF = 1.25
RELIABILITY_HALF_WORDS = 50

# The legacy score: the difference at which a feature counts as entirely unlike the profile.
LEGACY_FEATURE_SCALES: dict[str, float] = {
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
LEGACY_DIMENSION_SCALE = 0.5


@dataclass(frozen=True, slots=True)
class ConsistencyScore:
    """A text's similarity to a profile, with the distances that make it up."""

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
    signature = profile.signature
    if signature is None:
        return legacy_consistency(text, profile)
    measured = measure(text)
    if measured.words == 0:
        return ConsistencyScore(0.0, 0.0, {})
    gap = distance(measured, signature)
    score = 0.5 ** ((gap.total / D_REF) ** SCORE_EXPONENT)
    distances = {"delta": gap.total, **{f"group:{group}": value for group, value in gap.groups.items()}}
    return ConsistencyScore(round(score, 4), _reliability(measured.words), distances)


def legacy_consistency(text: str, profile: PersonalityProfile) -> ConsistencyScore:
    """The format-1 score: `1 - mean(min(1, |text_f - profile_f| / scale_f))` over a few style rates."""
    style = measure_style(text)
    if style.words == 0:
        return ConsistencyScore(0.0, 0.0, {})
    distances: dict[str, float] = {}
    for name, scale in LEGACY_FEATURE_SCALES.items():
        if name in profile.style_features:
            gap = abs(style.features[name] - profile.style_features[name])
            distances[name] = round(min(1.0, gap / scale), 4)
    for dimension, measured in score_dimensions(text, style).items():
        gap = abs(measured.value - profile.trait(dimension))
        distances[f"dimension:{dimension}"] = round(min(1.0, gap / LEGACY_DIMENSION_SCALE), 4)
    score = 1.0 - sum(distances.values()) / len(distances)
    return ConsistencyScore(round(score, 4), _reliability(style.words), distances)


def _reliability(words: int) -> float:
    return round(words / (words + RELIABILITY_HALF_WORDS), 4)
