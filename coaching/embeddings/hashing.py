"""A deterministic fake embedder for tests and benchmarks: no model, no network."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence

from coaching.embeddings.interface import normalise
from coaching.status import ComponentStatus


class HashingEmbedder:
    """A deterministic fake: hashed words and character trigrams, so texts sharing words are closer."""

    name = "hashing"

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text, the same for the same text in any process."""
        return [self.vector(text) for text in texts]

    def vector(self, text: str) -> list[float]:
        """The embedding of one text."""
        vector = [0.0] * self.dimension
        for feature, weight in _hashing_features(text):
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "big") % self.dimension
            vector[bucket] += weight if digest[4] & 1 else -weight
        return normalise(vector) if any(vector) else self._empty()

    async def check(self) -> ComponentStatus:
        """Always real: there is nothing to fail."""
        return ComponentStatus("real", f"hashing embedder ({self.dimension} dimensions; a test fake)")

    async def aclose(self) -> None:
        """Nothing to release."""

    def _empty(self) -> list[float]:
        # A text without words still needs a unit vector; all such texts share this one.
        return [1.0] + [0.0] * (self.dimension - 1)


def _hashing_features(text: str) -> Iterator[tuple[str, float]]:
    for word in re.findall(r"\w+", text.lower()):
        yield f"w:{word}", 1.0
        padded = f"#{word}#"
        for start in range(len(padded) - 2):
            yield f"t:{padded[start : start + 3]}", 0.5
