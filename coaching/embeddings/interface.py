"""What every embedder is: the `Embedder` interface, the error it raises, and unit-length vectors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from coaching.status import ComponentStatus


class EmbeddingsUnavailable(Exception):  # noqa: N818 - the name the rest of the project uses
    """Texts cannot be embedded now; the message says why in words a user can act on."""


class Embedder(Protocol):
    """Turns texts into unit-length vectors of `dimension` floats."""

    name: str
    dimension: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised vector per text, in order; raises `EmbeddingsUnavailable`."""
        ...

    async def check(self) -> ComponentStatus:
        """Whether embeddings work now, and why not; never raises."""
        ...

    async def aclose(self) -> None:
        """Release what the embedder holds (connections, the model)."""
        ...


def normalise(vector: Sequence[float]) -> list[float]:
    """`vector` scaled to unit length (an all-zero vector stays zero): cosine becomes a dot product."""
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]
