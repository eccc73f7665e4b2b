"""Search hits made into the passages an answer is chosen from: each with its kind and its sentences'
similarity to the question, from the sentence vectors stored at ingestion.

The question is embedded once: `QueryVectors` keeps the last few questions' vectors, so search and
sentence scoring share one model call.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from coaching.embeddings import Embedder
from coaching.generation import ContextPassage, PassageSentence
from coaching.sentence_store import PassageSentences

if TYPE_CHECKING:
    from coaching.knowledge import SearchHit

QUERY_CACHE_SIZE = 256


class QueryVectors:
    """The embedder for questions, remembering the most recent ones."""

    def __init__(self, embedder: Embedder, size: int = QUERY_CACHE_SIZE) -> None:
        self._embedder = embedder
        self._size = size
        self._recent: OrderedDict[str, list[float]] = OrderedDict()

    async def vector(self, text: str) -> list[float]:
        """The embedding of `text`, computed at most once while it is among the recent ones."""
        cached = self._recent.get(text)
        if cached is not None:
            self._recent.move_to_end(text)
            return cached
        [vector] = await self._embedder.embed([text])
        self._recent[text] = vector
        if len(self._recent) > self._size:
            self._recent.popitem(last=False)
        return vector


def context_passages(
    hits: Sequence[SearchHit], stored: Mapping[str, PassageSentences], query: Sequence[float]
) -> list[ContextPassage]:
    """One passage per hit, its sentences scored against `query` where their vectors were stored."""
    vector = np.asarray(query, dtype=np.float32)
    passages = []
    for hit in hits:
        found = stored.get(hit.chunk_id)
        sentences: tuple[PassageSentence, ...] = ()
        kind = hit.kind
        if found is not None:
            kind = found.kind
            if found.vectors.shape[1] == vector.shape[0]:
                # Stored vectors are unit length (float16 rounding aside): the dot product is the cosine.
                similarities = found.vectors @ vector
                sentences = tuple(
                    PassageSentence(start, end, float(similarity))
                    for (start, end), similarity in zip(found.spans, similarities, strict=True)
                )
            else:
                sentences = tuple(PassageSentence(start, end) for start, end in found.spans)
        passages.append(ContextPassage(hit.text, hit.to_source(), kind=kind, sentences=sentences))
    return passages
