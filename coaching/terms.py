"""The words of a text that carry meaning: lowercased, stopwords dropped, lightly stemmed.

Shared by sentence choice, the answerability signals and the offline generator, so a question and the
material are always reduced the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def word_list(text: str, separator: str | None = None) -> tuple[str, ...]:
    """Split a word list written as one string; keeps the vocabularies readable."""
    return tuple(item.strip() for item in text.split(separator) if item.strip())


STOPWORDS = frozenset(
    word_list(
        "a about above after again all also am an and any are as at be because been being but by can "
        "could did do does doing for from get got had has have having he her here hers him his how i i'm "
        "if in into is it it's its just let me more most my no not now of off on once only or other our "
        "out over own please really same she should so some such tell than that the their them then there "
        "these they this those through to too under until up very was we were what when where which while "
        "who whom why will with would you your yours"
    )
)


def content_words(text: str) -> set[str]:
    """The words that carry meaning: lowercased, punctuation and stopwords dropped, lightly stemmed."""
    return set(_content_words(text))


# An answer reads the same passages and sentences several times (sentence choice, the answerability
# signals) and popular passages come back question after question: each text is reduced once.
@lru_cache(maxsize=8192)
def _content_words(text: str) -> frozenset[str]:
    return frozenset(
        stem(word) for word in WORD.findall(text.lower().replace("’", "'")) if word not in STOPWORDS
    )


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Just enough to match sleep/sleeps/sleeping, exercise/exercised, run/running.

    A real stemmer would be overkill here; both sides go through it, so odd stems ("exercis") still
    match each other.
    """
    word = word.removesuffix("'s")
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                break
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]
    return word
