"""Stylometric measurements: the features that tell one writer from another, measured on any text.

A text is measured as one vector of named values, in five groups:

- `sentence:` the sentence-length distribution in words (mean, the 10/25/50/75/90th percentiles, and
  the share of short (<= 8 words) and long (>= 30 words) sentences);
- `punct:` punctuation habits per sentence (commas, semicolons, colons, dashes, exclamations,
  questions, parentheses, quotation marks);
- `pronoun:` pronouns per word: I, we, you (archaic "thou/thee/thy/thine/ye" count as addressing the
  reader too), the archaic forms alone, and he/she/they;
- `word:` vocabulary: mean word length, long words (>= 9 letters), the moving-average type-token
  ratio (window of 50 words, so texts of any length compare), contractions and numbers per word;
- `fw:` the relative frequency of each of the most frequent English function words (the basis of
  Burrows' Delta: writers use "the", "of", "upon", "which" at stable, personal rates whatever the topic).

`consistency.py` compares these vectors; `signature.py` summarises a writer's passages into one.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from coaching.personality.features import (
    ARCHAIC_SECOND_PERSON,
    SECOND_PERSON,
    WORD,
    split_sentences,
    word_list,
    words_of,
)

SECOND_PERSON_ALL = SECOND_PERSON  # with the archaic forms
FIRST_SINGULAR = frozenset(["i", "me", "my", "mine", "myself", "i'm", "i've", "i'll", "i'd"])
FIRST_PLURAL = frozenset(["we", "us", "our", "ours", "ourselves", "we're", "we've", "we'll", "we'd"])
THIRD_PERSON = frozenset(
    ["he", "him", "his", "himself", "she", "her", "hers", "herself", "they", "them", "their", "theirs"]
)

# The most frequent English function words (pronouns are measured in their own group as well; the
# archaic forms and old connectives are here because they separate older writers from newer ones).
FUNCTION_WORDS: tuple[str, ...] = word_list(
    """the of and to a in that is it for as with was be by on not he his this are or but from at
    which have an they you all their one has so if more can will there been its when who would
    what them than were no may other into only any these some such do must even our also most
    then upon should could out those up every very your each about how much many own both before
    through after over under again because while where nor yet though however therefore thus
    indeed whether never always often himself itself we us i my me him her she thou thee thy ye
    shall hath doth unto whilst might can't don't it's here now just too being had did does"""
)
FUNCTION_WORD_SET = frozenset(FUNCTION_WORDS)

_PUNCTUATION: dict[str, re.Pattern[str]] = {
    "comma": re.compile(r","),
    "semicolon": re.compile(r";"),
    "colon": re.compile(r":(?!//)"),
    "dash": re.compile(r"—|–|(?<=\w)--(?=\w|\s)|\s-\s"),
    "exclamation": re.compile(r"!"),
    "question": re.compile(r"\?"),
    "parenthesis": re.compile(r"\("),
    "quote": re.compile(r"[\"“”]"),
}
_CONTRACTION = re.compile(r"\b[A-Za-z]+['’](?:s|t|re|ve|ll|d|m)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\b\d+(?:[.,/]\d+)*\b")
SENTENCE_QUANTILES = (10, 25, 50, 75, 90)
TTR_WINDOW = 50


@dataclass(frozen=True, slots=True)
class Measurement:
    """A text's stylometric vector, and the words and sentences it was measured over."""

    values: dict[str, float]
    words: int
    sentences: int


def feature_names() -> tuple[str, ...]:
    """Every feature `measure` returns, in a fixed order."""
    return tuple(measure("One two three. Four five six.").values)


def measure(text: str) -> Measurement:
    """The stylometric vector of `text` (every value 0 for a text without words)."""
    sentences = split_sentences(text)
    words = words_of(text)
    n_words, n_sentences = len(words), len(sentences)
    values: dict[str, float] = {}
    lengths = sorted(len(WORD.findall(sentence)) for sentence in sentences)
    values["sentence:mean"] = n_words / n_sentences if n_sentences else 0.0
    for q in SENTENCE_QUANTILES:
        values[f"sentence:p{q}"] = _quantile(lengths, q / 100)
    values["sentence:short_share"] = _share(sum(1 for n in lengths if n <= 8), n_sentences)
    values["sentence:long_share"] = _share(sum(1 for n in lengths if n >= 30), n_sentences)
    for name, pattern in _PUNCTUATION.items():
        values[f"punct:{name}"] = _share(len(pattern.findall(text)), n_sentences)
    counts = Counter(words)
    values["pronoun:i"] = _rate(counts, FIRST_SINGULAR, n_words)
    values["pronoun:we"] = _rate(counts, FIRST_PLURAL, n_words)
    values["pronoun:you"] = _rate(counts, SECOND_PERSON_ALL, n_words)
    values["pronoun:thou"] = _rate(counts, ARCHAIC_SECOND_PERSON, n_words)
    values["pronoun:third"] = _rate(counts, THIRD_PERSON, n_words)
    values["word:mean_length"] = _share(sum(len(word) for word in words), n_words)
    values["word:long_share"] = _share(sum(1 for word in words if len(word) >= 9), n_words)
    values["word:ttr"] = moving_type_token_ratio(words)
    values["word:contractions"] = _share(len(_CONTRACTION.findall(text)), n_words)
    values["word:numbers"] = _share(len(_NUMBER.findall(text)), n_words)
    for word in FUNCTION_WORDS:
        values[f"fw:{word}"] = _share(counts[word], n_words)
    return Measurement(values, n_words, n_sentences)


def moving_type_token_ratio(words: list[str], window: int = TTR_WINDOW) -> float:
    """The mean share of distinct words over every window of `window` words (plain TTR if shorter).

    A plain type-token ratio falls as a text grows; averaged over a fixed window it does not.
    """
    if not words:
        return 0.0
    if len(words) <= window:
        return len(set(words)) / len(words)
    counts = Counter(words[:window])
    total = len(counts)
    for start in range(1, len(words) - window + 1):
        leaving, entering = words[start - 1], words[start + window - 1]
        counts[leaving] -= 1
        if counts[leaving] == 0:
            del counts[leaving]
        counts[entering] += 1
        total += len(counts)
    return total / (len(words) - window + 1) / window


def group_of(feature: str) -> str:
    """A feature's group: the part of its name before the colon."""
    return feature.split(":", 1)[0]


def _quantile(ordered: list[int], q: float) -> float:
    """The `q` quantile of sorted values, interpolated linearly (0 for none)."""
    if not ordered:
        return 0.0
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _share(part: float, whole: int) -> float:
    return part / whole if whole else 0.0


def _rate(counts: Counter[str], vocabulary: frozenset[str], total: int) -> float:
    return _share(sum(counts[word] for word in vocabulary), total)
