"""A writer's stylometric signature: how their passages measure, on average and in their variation.

The writer's text is cut into passages of about `PASSAGE_WORDS` words (whole sentences), each is
measured (`stylometry.measure`), and the signature keeps, per feature, the mean and the standard
deviation across passages. A new text is then compared feature by feature in units of the writer's
own variation (see `distance`): this is Burrows' Delta with the writer's spread in place of a
reference corpus's, since a deployment knows one creator's documents, not a corpus of writers.
Each feature adds `|z| + ln(spread / floor)`, the negative log-likelihood of a Laplace distribution
around the writer's mean (up to a constant): without the second term, a writer whose passages vary
widely would look close to every text, and win texts that are not theirs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean, pstdev
from typing import Any

from coaching.personality.features import WORD, split_sentences
from coaching.personality.stylometry import Measurement, group_of, measure

PASSAGE_WORDS = 150
MIN_PASSAGES = 3  # fewer and the spread means nothing: the signature is not made
MAX_PASSAGES = 400  # enough for stable spreads; more only costs time on a long book
MIN_TEXT_WORDS = 20  # below this a text's rates are scaled as if it had this many words
Z_CAP = 5.0  # one wild feature (a table, a quote) must not decide the whole distance
# How much each group counts in the distance: function words are the classic authorship signal and
# get as much weight as the four groups of form together.
GROUP_WEIGHTS = {"fw": 0.5, "sentence": 0.125, "punct": 0.125, "pronoun": 0.125, "word": 0.125}
# Features that are not rates: the smallest spread they are allowed, in their own units.
_ABSOLUTE_FLOORS = {"word:mean_length": 0.05, "word:ttr": 0.01}
_PER_SENTENCE_GROUPS = frozenset({"punct"})


@dataclass(frozen=True, slots=True)
class Signature:
    """Per-feature means and spreads of a writer's passages, and how far their own passages lie."""

    passage_words: int
    passages: int
    words: int
    sentences: int
    means: dict[str, float]
    spreads: dict[str, float]
    own_distance_median: float = 0.0
    own_distance_p90: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in the profile."""
        return {
            "passage_words": self.passage_words,
            "passages": self.passages,
            "words": self.words,
            "sentences": self.sentences,
            "means": self.means,
            "spreads": self.spreads,
            "own_distance_median": self.own_distance_median,
            "own_distance_p90": self.own_distance_p90,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        """The inverse of `to_dict`."""
        return cls(
            passage_words=int(data["passage_words"]),
            passages=int(data["passages"]),
            words=int(data["words"]),
            sentences=int(data["sentences"]),
            means={key: float(value) for key, value in data["means"].items()},
            spreads={key: float(value) for key, value in data["spreads"].items()},
            own_distance_median=float(data.get("own_distance_median", 0.0)),
            own_distance_p90=float(data.get("own_distance_p90", 0.0)),
        )


def passages_of(text: str, words: int = PASSAGE_WORDS) -> list[str]:
    """`text` cut into runs of whole sentences of at least `words` words (the last short run dropped)."""
    passages: list[str] = []
    current: list[str] = []
    count = 0
    for sentence in split_sentences(text):
        current.append(sentence)
        count += len(WORD.findall(sentence))
        if count >= words:
            passages.append(" ".join(current))
            current, count = [], 0
    return passages


def build_signature(texts: Sequence[str]) -> Signature | None:
    """The signature of the writer of `texts`, or None when there is too little text for one."""
    passages = [passage for text in texts for passage in passages_of(text)]
    if len(passages) < MIN_PASSAGES:
        return None
    if len(passages) > MAX_PASSAGES:  # an even sample across the whole writing, not just its start
        step = len(passages) / MAX_PASSAGES
        passages = [passages[int(i * step)] for i in range(MAX_PASSAGES)]
    measured = [measure(passage) for passage in passages]
    names = list(measured[0].values)
    signature = Signature(
        passage_words=round(fmean(m.words for m in measured)),
        passages=len(measured),
        words=sum(m.words for m in measured),
        sentences=sum(m.sentences for m in measured),
        means={name: round(fmean(m.values[name] for m in measured), 6) for name in names},
        spreads={name: round(pstdev(m.values[name] for m in measured), 6) for name in names},
    )
    own = sorted(distance(m, signature).total for m in measured)
    return Signature(
        **{
            **signature.to_dict(),
            "own_distance_median": round(own[len(own) // 2], 4),
            "own_distance_p90": round(own[min(len(own) - 1, int(0.9 * len(own)))], 4),
        }
    )


@dataclass(frozen=True, slots=True)
class Distance:
    """How far a text is from a signature: the weighted total, and the mean of each feature group."""

    total: float
    groups: dict[str, float]


def distance(text: Measurement, signature: Signature) -> Distance:
    """The weighted mean over feature groups of `|z| + ln(spread / floor)` (see the module docstring).

    A feature's spread for this text is the writer's passage spread scaled to the text's length (rates
    over `n` words vary as `1/sqrt(n)`), never below the Poisson spread of the writer's mean rate, so
    a feature the writer never showed (an exclamation, "thou") still has a finite, honest spread.
    """
    words = max(text.words, MIN_TEXT_WORDS)
    scale = math.sqrt(signature.passage_words / words)
    per_sentence_words = signature.words / max(signature.sentences, 1)
    sentences = max(text.sentences, words / per_sentence_words, 1.0)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for name, mean in signature.means.items():
        if name not in text.values:
            continue
        floor = _floor(name, mean, signature, words, sentences)
        spread = max(signature.spreads.get(name, 0.0) * scale, floor)
        # The Laplace negative log-likelihood, |x - mean| / b + ln b, with b measured in floors so the
        # sum is unit-free: a writer whose passages vary widely pays for the room that gives them.
        z = min(abs(text.values[name] - mean) / spread, Z_CAP) + math.log(spread / floor)
        group = group_of(name)
        sums[group] = sums.get(group, 0.0) + z
        counts[group] = counts.get(group, 0) + 1
    groups = {group: sums[group] / counts[group] for group in sums}
    weight = sum(GROUP_WEIGHTS.get(group, 0.0) for group in groups)
    total = sum(GROUP_WEIGHTS.get(group, 0.0) * value for group, value in groups.items()) / weight
    return Distance(round(total, 4), {group: round(value, 4) for group, value in groups.items()})


def _floor(name: str, mean: float, signature: Signature, words: float, sentences: float) -> float:
    """The smallest spread a feature may have for a text of `words` words and `sentences` sentences."""
    if name in _ABSOLUTE_FLOORS:
        return _ABSOLUTE_FLOORS[name]
    group = group_of(name)
    if group == "sentence" and not name.endswith("_share"):
        return 1.0  # sentence lengths, in words
    if group in _PER_SENTENCE_GROUPS or (name.endswith("_share") and group == "sentence"):
        rate = max(mean, 0.5 / max(signature.sentences, 1))
        return math.sqrt(rate / sentences)
    rate = max(mean, 0.5 / max(signature.words, 1))
    return math.sqrt(rate / words)
