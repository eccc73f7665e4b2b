"""Whether a question is a copy of the quoted sentence with one word swapped: the `intact` signal.

On SQuAD v2 the unanswerable questions were written against the paragraph: most of their words are the
sentence's own, and one (an entity, a role, a number) is changed. An answerable question is a
paraphrase, its words near the sentence's in meaning but seldom all of them closely. Lexical overlap
cannot tell the two apart (both miss a word), so this compares meanings word by word (late interaction,
as ColBERT's MaxSim): each content word of the question gets its best cosine against the tokens of the
first quoted sentences, in the embedder's last layer.

The signal is 1 - resembles x missing: `resembles` grows as the question's other words match the quote
closely (their mean from 0.75 to 0.9), `missing` as its worst-matched word has no counterpart (its best
cosine from 0.6 down to 0.3). A question that resembles the quote except for one word scores near 0; a
paraphrase, or a question about something else, near 1. On its own it ranks no better than chance; next
to the other signals (which say the quote is about the question) it is what says "about it, but not
this". The bars were chosen on the calibration half of the SQuAD v2 sample by 5-fold cross-validation.

Only an embedder with token vectors (`TokenEmbedder`: the local MiniLM) gives it; any other gets the
neutral 1.0, as does a question with fewer than three content words or no quote: of two, one is
often a filler the quote has no use for ("Can I still have dessert?").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from coaching.terms import STOPWORDS

FloatArray = npt.NDArray[np.float32]
NEUTRAL = 1.0
# How many of the chosen sentences the question is compared with: the answer's first two (one missed
# paraphrases spread over two sentences; three dilute the swapped word's absence).
QUOTES_COMPARED = 2
MIN_WORDS = 3
RESEMBLES = (0.75, 0.9)  # the mean best cosine of the question's other words: from not at all to fully
MISSING = (0.6, 0.3)  # the worst word's best cosine: from present to fully missing
_SPECIAL = frozenset({"[CLS]", "[SEP]", "[PAD]", "[UNK]"})
_PUNCTUATION = re.compile(r"^[^0-9a-z]+$")


@runtime_checkable
class TokenEmbedder(Protocol):
    """An embedder that can also give each token's vector (`LocalMiniLMEmbedder.token_vectors`)."""

    async def token_vectors(self, texts: Sequence[str]) -> list[tuple[list[str], FloatArray]]:
        """Each text's wordpieces and their unit-length vectors [tokens, dimension]."""
        ...


def content_word_pieces(tokens: Sequence[str]) -> list[list[int]]:
    """The positions of the wordpieces of each content word (stopwords and punctuation dropped)."""
    words: list[tuple[str, list[int]]] = []
    for position, token in enumerate(tokens):
        if token in _SPECIAL or _PUNCTUATION.match(token):
            continue
        if token.startswith("##") and words:
            text, pieces = words[-1]
            words[-1] = (text + token[2:], [*pieces, position])
        else:
            words.append((token, [position]))
    return [pieces for text, pieces in words if text not in STOPWORDS]


def word_alignment(question: FloatArray, pieces: Sequence[Sequence[int]], quote: FloatArray) -> list[float]:
    """For each content word of the question (its wordpiece positions in `question`), the mean over its
    pieces of their best cosine with any token of `quote` (unit-length rows)."""
    if not len(quote):
        return []
    best = (question @ quote.T).max(axis=1)
    return [float(best[list(positions)].mean()) for positions in pieces]


def intact(alignment: Sequence[float]) -> float:
    """1 - resembles x missing, over the content words' alignment (see the module docstring)."""
    if len(alignment) < MIN_WORDS:
        return NEUTRAL
    ordered = sorted(alignment)
    resembles = _ramp(sum(ordered[1:]) / (len(ordered) - 1), *RESEMBLES)
    missing = _ramp(ordered[0], *MISSING)
    return 1.0 - resembles * missing


def _ramp(value: float, zero_at: float, one_at: float) -> float:
    return min(1.0, max(0.0, (value - zero_at) / (one_at - zero_at)))


async def intactness(embedder: object, question: str, quotes: Sequence[str]) -> float:
    """The `intact` signal of a question against the sentences an answer quotes (their first
    `QUOTES_COMPARED`), in one forward pass; `NEUTRAL` without token vectors or quotes."""
    compared = list(quotes[:QUOTES_COMPARED])
    if not compared or not isinstance(embedder, TokenEmbedder):
        return NEUTRAL
    (tokens, vectors), *quoted = await embedder.token_vectors([question, *compared])
    # [CLS] and [SEP] of the quotes are left out: they stand for the whole sentence, not a word of it.
    quote = np.vstack([quote_vectors[1:-1] for _, quote_vectors in quoted])
    return intact(word_alignment(vectors, content_word_pieces(tokens), quote))
