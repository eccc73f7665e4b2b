"""Style features: what a text's writing measurably looks like, as rates a profile can be compared by.

Every feature is a rate per sentence or per word, so texts of any length are comparable. The
lexicon-based dimensions (empathy, warmth, ...) live in `lexicons.py`; this module measures form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])|\n{2,}")
WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?")
_EMOJI = re.compile(
    "[\U0001f300-\U0001faff\U00002600-\U000027bf\U0001f000-\U0001f02f\U0001f0a0-\U0001f0ff\U0001f100-\U0001f1ff]"
)
_CITATION = re.compile(r"\[\d{1,2}\]")
_CONTRACTION = re.compile(r"\b[A-Za-z]+['’](?:s|t|re|ve|ll|d|m)\b", re.IGNORECASE)


def word_list(text: str) -> tuple[str, ...]:
    """A word list written as one string (easier to read than a list literal), without repeats."""
    return tuple(dict.fromkeys(text.split()))


ARCHAIC_SECOND_PERSON = frozenset(word_list("thou thee thy thine ye thyself"))
# The archaic forms address the reader too ("Keep thy heart"): older writers speak to them that way.
SECOND_PERSON = (
    frozenset(word_list("you your yours yourself yourselves you're you've you'll you'd"))
    | ARCHAIC_SECOND_PERSON
)
FIRST_PERSON = frozenset(
    [
        "i",
        "me",
        "my",
        "mine",
        "myself",
        "i'm",
        "i've",
        "i'll",
        "i'd",
        "we",
        "us",
        "our",
        "ours",
        "ourselves",
        "we're",
        "we've",
    ]
)
HEDGES = frozenset(
    [
        "maybe",
        "perhaps",
        "might",
        "possibly",
        "probably",
        "somewhat",
        "seems",
        "seem",
        "suggest",
        "suggests",
        "likely",
        "unlikely",
        "could",
        "may",
        "generally",
        "usually",
        "often",
        "sometimes",
        "arguably",
        "apparently",
    ]
)
# Sentence openers that make a sentence an instruction ("Try …", "Eat …", "Don't …").
IMPERATIVE_VERBS = frozenset(
    [
        "ask",
        "avoid",
        "be",
        "begin",
        "believe",
        "breathe",
        "build",
        "check",
        "choose",
        "commit",
        "consider",
        "do",
        "don't",
        "drink",
        "eat",
        "find",
        "focus",
        "follow",
        "get",
        "give",
        "go",
        "keep",
        "learn",
        "let",
        "limit",
        "listen",
        "look",
        "make",
        "move",
        "never",
        "note",
        "notice",
        "plan",
        "practice",
        "practise",
        "put",
        "read",
        "remember",
        "rest",
        "set",
        "sit",
        "sleep",
        "start",
        "stay",
        "stop",
        "take",
        "talk",
        "think",
        "track",
        "try",
        "use",
        "walk",
        "watch",
        "work",
        "write",
    ]
)

# The names and order of the style vector: `consistency.py` compares texts by these.
STYLE_FEATURES = (
    "avg_sentence_words",
    "question_rate",
    "exclamation_rate",
    "imperative_rate",
    "second_person_rate",
    "first_person_rate",
    "hedge_rate",
    "contraction_rate",
    "emoji_rate",
    "avg_word_length",
    "long_word_rate",
)


@dataclass(frozen=True, slots=True)
class StyleMeasurement:
    """A text's style features and the evidence they rest on (how many sentences and words)."""

    features: dict[str, float]
    sentences: int
    words: int


def split_sentences(text: str) -> list[str]:
    """The sentences of a text (a plain splitter: good enough for rates, not for grammar)."""
    text = _CITATION.sub("", text)
    parts = (" ".join(part.split()) for part in _SENTENCE_SPLIT.split(text))
    return [part for part in parts if WORD.search(part)]


def words_of(text: str) -> list[str]:
    """The lowercased words, with straight apostrophes."""
    return [word.lower().replace("’", "'") for word in WORD.findall(text)]


def measure_style(text: str) -> StyleMeasurement:
    """The style features of `text` (zeros for an empty text)."""
    sentences = split_sentences(text)
    words = words_of(text)
    if not sentences or not words:
        return StyleMeasurement(dict.fromkeys(STYLE_FEATURES, 0.0), 0, 0)
    n_sentences, n_words = len(sentences), len(words)
    first_words = [words_of(sentence)[:1] for sentence in sentences]
    features = {
        "avg_sentence_words": n_words / n_sentences,
        "question_rate": _share(sentence.rstrip("\"'”’)").endswith("?") for sentence in sentences),
        "exclamation_rate": _share(sentence.rstrip("\"'”’)").endswith("!") for sentence in sentences),
        "imperative_rate": _share(bool(first) and first[0] in IMPERATIVE_VERBS for first in first_words),
        "second_person_rate": _count_in(words, SECOND_PERSON) / n_words,
        "first_person_rate": _count_in(words, FIRST_PERSON) / n_words,
        "hedge_rate": _count_in(words, HEDGES) / n_words,
        "contraction_rate": len(_CONTRACTION.findall(text)) / n_words,
        "emoji_rate": len(_EMOJI.findall(text)) / n_sentences,
        "avg_word_length": sum(len(word) for word in words) / n_words,
        "long_word_rate": sum(1 for word in words if len(word) >= 9) / n_words,
    }
    return StyleMeasurement(features, n_sentences, n_words)


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return sum(values) / len(values) if values else 0.0


def _count_in(words: list[str], vocabulary: frozenset[str]) -> int:
    return sum(1 for word in words if word in vocabulary)
