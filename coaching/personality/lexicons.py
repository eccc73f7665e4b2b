"""Personality dimensions scored from word lists and style features, and coaching methods by key phrase.

Each dimension's value is in [0, 1]. A lexicon dimension is `rate / (rate + reference)`, where `rate`
is the share of words from its list and `reference` the rate at which it reads as clearly present:
0.5 means "at the reference rate", 0.8 four times it. Directness and formality mix style features,
each part mapped to [0, 1] the same saturating way, and average them. The references are chosen,
not fitted: they are written here so that anyone can check and change them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

from coaching.personality.features import StyleMeasurement, words_of


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


LEXICONS: dict[str, frozenset[str]] = {
    "empathy": _words(
        "understand understandable feel feeling feelings felt hard difficult struggle struggling "
        "normal natural okay ok alone worry worried afraid fear frustrated frustrating overwhelmed "
        "sorry pain hurt listen compassion patient patience gentle forgive"
    ),
    "warmth": _words(
        "love loving kind kindness care caring warm joy joyful glad happy happiness welcome friend "
        "friends heart together gentle grateful gratitude thank thanks wonderful beautiful sweet"
    ),
    "encouragement": _words(
        "can achieve achievement success succeed strength strong power powerful hope confident "
        "confidence progress grow growth improve better best possible courage believe able win "
        "victory accomplish overcome rise"
    ),
    "humour": _words(
        "laugh laughing laughter funny fun joke jokes kidding haha lol silly hilarious giggle "
        "grin smile amusing"
    ),
    "formal_vocabulary": _words(
        "therefore thus hence moreover furthermore consequently accordingly whereas whereby "
        "herein shall must regarding pursuant nevertheless notwithstanding indeed wherein"
    ),
}

# The rate (share of all words) at which a lexicon dimension reads as clearly present.
LEXICON_REFERENCE_RATES = {
    "empathy": 0.006,
    "warmth": 0.006,
    "encouragement": 0.008,
    "humour": 0.002,
    "formal_vocabulary": 0.002,
}

DIMENSIONS = ("empathy", "warmth", "encouragement", "humour", "directness", "formality")


def saturate(value: float, reference: float) -> float:
    """`value / (value + reference)`: 0 at 0, 0.5 at the reference, towards 1 above it."""
    if value <= 0:
        return 0.0
    return value / (value + reference)


@dataclass(frozen=True, slots=True)
class DimensionScore:
    """One dimension's value and how many observations (words or sentences) it rests on."""

    value: float
    evidence: int


def score_dimensions(text: str, style: StyleMeasurement) -> dict[str, DimensionScore]:
    """Every dimension of `DIMENSIONS` for a text and its measured style."""
    words = words_of(text)
    counts = Counter(words)
    total = max(len(words), 1)
    rates = {name: sum(counts[word] for word in lexicon) / total for name, lexicon in LEXICONS.items()}
    f = style.features
    scores = {
        name: DimensionScore(saturate(rates[name], LEXICON_REFERENCE_RATES[name]), style.words)
        for name in ("empathy", "warmth", "encouragement", "humour")
    }
    # Direct writing gives instructions, hedges little, and keeps sentences short.
    directness = (
        saturate(f["imperative_rate"], 0.15)
        + (1 - saturate(f["hedge_rate"], 0.01))
        + (1 - saturate(f["avg_sentence_words"], 18.0))
        + saturate(f["second_person_rate"], 0.02)
    ) / 4
    # Formal writing uses long words and formal connectives, few contractions and little "I"/"you".
    formality = (
        saturate(max(f["avg_word_length"] - 3.5, 0.0), 1.0)
        + saturate(rates["formal_vocabulary"], LEXICON_REFERENCE_RATES["formal_vocabulary"])
        + (1 - saturate(f["contraction_rate"], 0.01))
        + (1 - saturate(f["first_person_rate"] + f["second_person_rate"], 0.03))
    ) / 4
    scores["directness"] = DimensionScore(directness, style.sentences)
    scores["formality"] = DimensionScore(formality, style.words)
    return scores


# Coaching methods, each recognised by key phrases (whole words; a trailing * matches any ending).
METHODOLOGIES: dict[str, tuple[str, ...]] = {
    "Mindset and thought work": ("thought*", "mind", "mindset", "belief*", "attitude*", "think*"),
    "Purpose and goal setting": ("goal*", "purpose*", "aim*", "objective*", "target*", "vision"),
    "Habit building": ("habit*", "routine*", "daily", "consisten*", "practice*", "practis*"),
    "Self-monitoring and tracking": ("track*", "record*", "log", "logs", "monitor*", "measur*"),
    "Meal planning and nutrition": ("meal*", "food*", "portion*", "carbohydrate*", "diet*", "nutrition*"),
    "Physical activity": ("exercise*", "physical activity", "walk*", "active", "workout*", "fitness"),
    "Calm and mindfulness": ("calm*", "serenity", "peace*", "breath*", "meditat*", "mindful*", "stillness"),
    "Self-discipline": ("discipline*", "self-control", "self control", "effort*", "persist*", "willpower"),
    "Reflection and journaling": ("reflect*", "journal*", "write down", "introspect*"),
    "Support and accountability": ("support*", "accountab*", "health care team", "doctor*", "partner*"),
    "Positive reframing": ("reframe*", "perspective*", "positive thinking", "optimis*"),
    "Rest and sleep": ("sleep*", "rest", "restful", "recover*"),
    "Stress management": ("stress*", "anxiety", "anxious", "worry", "worries", "relax*"),
}
_PHRASE_CACHE: dict[str, re.Pattern[str]] = {}


def _pattern(phrase: str) -> re.Pattern[str]:
    pattern = _PHRASE_CACHE.get(phrase)
    if pattern is None:
        body = re.escape(phrase.rstrip("*")).replace(r"\ ", r"\s+")
        suffix = r"[a-z-]*" if phrase.endswith("*") else ""
        pattern = _PHRASE_CACHE[phrase] = re.compile(rf"\b{body}{suffix}\b", re.IGNORECASE)
    return pattern


@dataclass(frozen=True, slots=True)
class MethodologyEvidence:
    """A method the text leans on: how often its phrases occur, per 1,000 words."""

    name: str
    mentions: int
    per_thousand_words: float


def find_methodologies(
    text: str, word_count: int, *, min_mentions: int = 3, min_per_thousand: float = 1.0, limit: int = 5
) -> list[MethodologyEvidence]:
    """The methods a text mentions often enough (at least `min_mentions` and `min_per_thousand`)."""
    found: list[MethodologyEvidence] = []
    for name, phrases in METHODOLOGIES.items():
        mentions = sum(len(_pattern(phrase).findall(text)) for phrase in phrases)
        per_thousand = 1000 * mentions / max(word_count, 1)
        if mentions >= min_mentions and per_thousand >= min_per_thousand:
            found.append(MethodologyEvidence(name, mentions, round(per_thousand, 2)))
    found.sort(key=lambda item: -item.per_thousand_words)
    return found[:limit]


_KEY_PHRASE_STOPWORDS = _words(
    "a an the and or but of to in on at for with by from as is are was were be been being it its this "
    "that these those he she they them his her their there here i me my we our you your not no so if "
    "then than do does did have has had will would can could should may might must which who whom what "
    "when where why how all any each more most other some such only own same very just also into out up "
    "about over after before under again once one two"
)


def key_phrases(text: str, *, limit: int = 8, min_count: int = 3) -> list[tuple[str, int]]:
    """The text's most repeated two-word phrases without stopwords: what the author keeps coming back to."""
    words = words_of(text)
    pairs = Counter(
        f"{first} {second}"
        for first, second in pairwise(words)
        if first not in _KEY_PHRASE_STOPWORDS
        and second not in _KEY_PHRASE_STOPWORDS
        and len(first) > 2
        and len(second) > 2
    )
    return [(phrase, count) for phrase, count in pairs.most_common(limit) if count >= min_count]
