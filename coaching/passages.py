"""Search hits made into the passages an answer is chosen from: each with its kind and its sentences'
similarity to the question, from the sentence vectors stored at ingestion.

The question is embedded once: `coaching.query_cache.QueryVectors` keeps the recent questions'
vectors, so search and sentence scoring share one model call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from coaching.generation import ContextPassage, PassageSentence
from coaching.sentence_store import PassageSentences

if TYPE_CHECKING:
    from coaching.knowledge import SearchHit


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
