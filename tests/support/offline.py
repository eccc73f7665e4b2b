"""Services that answer offline from the creator's documents: no model download, no vector database."""

from __future__ import annotations

from typing import Any

from coaching.embeddings import HashingEmbedder
from coaching.offline import OfflineGenerator
from coaching.vector_store import InMemoryVectorStore


def offline_knowledge(store: InMemoryVectorStore | None = None) -> dict[str, Any]:
    """`make_service` arguments for offline answers from a hashing embedder, relevance tuned to it."""
    return {
        "generator": OfflineGenerator(),
        "embedder": HashingEmbedder(),
        "vector_store": store if store is not None else InMemoryVectorStore(),
        "min_relevance": 0.05,
    }
