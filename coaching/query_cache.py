"""A small LRU of query embeddings: a question asked again (a FAQ, a button's text) skips the model."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from coaching.embeddings import Embedder


class QueryVectors:
    """Embeds one query at a time, remembering the last `size` distinct (model, query) pairs."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._vectors: OrderedDict[tuple[str, str], Sequence[float]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    async def embed(self, embedder: Embedder, query: str) -> Sequence[float]:
        """The query's vector by `embedder`, from the cache when it was embedded recently."""
        key = (embedder.name, query)
        vector = self._vectors.get(key)
        if vector is not None:
            self._vectors.move_to_end(key)
            self.hits += 1
            return vector
        self.misses += 1
        [vector] = await embedder.embed([query])
        self._vectors[key] = vector
        if len(self._vectors) > self._size:
            self._vectors.popitem(last=False)
        return vector
