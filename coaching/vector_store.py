"""The vector store: one collection per creator, so a creator's search never scans (or leaks) another's.

Measured here (DESIGN.md): at 100k chunks a `where={"creator_id": ...}` filter costs 40-160 ms a query,
one collection per creator 1.3-2 ms. Chroma's client is synchronous: calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import numpy as np

from coaching.status import ComponentStatus

Metadata = Mapping[str, str | int | float | bool]


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk as the store keeps it: id, text, embedding and flat metadata."""

    chunk_id: str
    text: str
    embedding: Sequence[float]
    metadata: Metadata


@dataclass(frozen=True, slots=True)
class VectorHit:
    """A search result: the chunk and its cosine similarity to the query (1 = same direction)."""

    chunk_id: str
    text: str
    metadata: Metadata
    similarity: float


class VectorStore(Protocol):
    """Per-creator vector collections."""

    async def add(self, creator_id: str, chunks: Sequence[StoredChunk]) -> None:
        """Store chunks in the creator's collection (ids are unique per creator)."""
        ...

    async def query(self, creator_id: str, embedding: Sequence[float], k: int) -> list[VectorHit]:
        """The `k` chunks nearest to `embedding`, nearest first."""
        ...

    async def nearest(self, creator_id: str, embedding: Sequence[float], k: int) -> list[tuple[str, float]]:
        """The ids of the `k` chunks nearest to `embedding` and their similarity, nearest first: what
        a ranking needs, without reading any chunk's text."""
        ...

    async def delete_document(self, creator_id: str, document_id: str) -> None:
        """Remove every chunk whose metadata `document_id` matches."""
        ...

    async def count(self, creator_id: str) -> int:
        """How many chunks the creator has."""
        ...

    async def chunks(self, creator_id: str) -> list[VectorHit]:
        """Every chunk of the creator (similarity 0), for the lexical index."""
        ...

    async def get(
        self, creator_id: str, chunk_ids: Sequence[str], embedding: Sequence[float]
    ) -> list[VectorHit]:
        """These chunks, with their similarity to `embedding`."""
        ...

    async def check(self) -> ComponentStatus:
        """Whether the store answers."""
        ...

    async def aclose(self) -> None:
        """Release connections and files."""
        ...


def collection_name(creator_id: str) -> str:
    """Chroma's collection name for a creator (3-512 of [a-zA-Z0-9._-], alphanumeric at both ends)."""
    safe = re.sub(r"[^a-zA-Z0-9._-]", "-", creator_id)
    return f"creator-{safe}"[:500].rstrip("-._") + "-kb"


class ChromaVectorStore:
    """Chroma, embedded (a directory) or a server (`COACH_CHROMA_URL`)."""

    def __init__(self, client: Any, description: str) -> None:
        self._client = client
        self.description = description
        self._collections: dict[str, Any] = {}

    @classmethod
    def embedded(cls, path: Path) -> ChromaVectorStore:
        """A persistent Chroma in a directory of this machine."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(
            path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
        )
        return cls(client, f"embedded Chroma in {path}")

    @classmethod
    def server(cls, url: str) -> ChromaVectorStore:
        """A Chroma server, `http(s)://host:port`."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        parsed = urlparse(url)
        client = chromadb.HttpClient(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=ChromaSettings(anonymized_telemetry=False),
        )
        return cls(client, f"Chroma server at {url}")

    def _collection(self, creator_id: str) -> Any:
        name = collection_name(creator_id)
        collection = self._collections.get(name)
        if collection is None:
            # embedding_function=None: we embed ourselves. Chroma's default would download a model.
            collection = self._client.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
            self._collections[name] = collection
        return collection

    async def add(self, creator_id: str, chunks: Sequence[StoredChunk]) -> None:
        """Store chunks, in batches Chroma accepts."""
        if not chunks:
            return

        def add_all() -> None:
            collection = self._collection(creator_id)
            batch = max(1, min(5000, int(self._client.get_max_batch_size())))
            for start in range(0, len(chunks), batch):
                part = chunks[start : start + batch]
                collection.upsert(
                    ids=[chunk.chunk_id for chunk in part],
                    embeddings=[list(chunk.embedding) for chunk in part],
                    documents=[chunk.text for chunk in part],
                    metadatas=[dict(chunk.metadata) for chunk in part],
                )

        await asyncio.to_thread(add_all)

    async def query(self, creator_id: str, embedding: Sequence[float], k: int) -> list[VectorHit]:
        """Nearest chunks; cosine distance d becomes similarity 1 - d.

        No `count()` first: Chroma (1.x) returns fewer than `k` from a small or empty collection by
        itself, and counting cost a round trip on every query.
        """

        def run() -> dict[str, Any]:
            result: dict[str, Any] = self._collection(creator_id).query(
                query_embeddings=[list(embedding)],
                n_results=k,
                include=["documents", "metadatas", "distances"],
            )
            return result

        result = await asyncio.to_thread(run)
        return [
            VectorHit(chunk_id, text or "", metadata or {}, 1.0 - float(distance))
            for chunk_id, text, metadata, distance in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]

    async def nearest(self, creator_id: str, embedding: Sequence[float], k: int) -> list[tuple[str, float]]:
        """Nearest chunk ids and similarities. Distances alone: at 10k chunks a query of 20 cost
        0.65 ms of CPU so, 1.8 ms with the texts and metadata of all 20 (most of which search drops)."""

        def run() -> dict[str, Any]:
            result: dict[str, Any] = self._collection(creator_id).query(
                query_embeddings=[list(embedding)], n_results=k, include=["distances"]
            )
            return result

        result = await asyncio.to_thread(run)
        return [
            (chunk_id, 1.0 - float(distance))
            for chunk_id, distance in zip(result["ids"][0], result["distances"][0], strict=True)
        ]

    async def delete_document(self, creator_id: str, document_id: str) -> None:
        """Remove a document's chunks."""
        await asyncio.to_thread(
            lambda: self._collection(creator_id).delete(where={"document_id": document_id})
        )

    async def count(self, creator_id: str) -> int:
        """Chunks in the creator's collection."""
        return int(await asyncio.to_thread(lambda: self._collection(creator_id).count()))

    async def chunks(self, creator_id: str) -> list[VectorHit]:
        """Every chunk, read in pages."""

        def read_all() -> list[VectorHit]:
            collection = self._collection(creator_id)
            hits: list[VectorHit] = []
            page = 5000
            for offset in range(0, collection.count(), page):
                result = collection.get(include=["documents", "metadatas"], limit=page, offset=offset)
                hits.extend(
                    VectorHit(chunk_id, text or "", metadata or {}, 0.0)
                    for chunk_id, text, metadata in zip(
                        result["ids"], result["documents"], result["metadatas"], strict=True
                    )
                )
            return hits

        return await asyncio.to_thread(read_all)

    async def get(
        self, creator_id: str, chunk_ids: Sequence[str], embedding: Sequence[float]
    ) -> list[VectorHit]:
        """These chunks with their cosine similarity to `embedding`."""
        if not chunk_ids:
            return []

        def read() -> dict[str, Any]:
            result: dict[str, Any] = self._collection(creator_id).get(
                ids=list(chunk_ids), include=["documents", "metadatas", "embeddings"]
            )
            return result

        result = await asyncio.to_thread(read)
        similarities = _cosines(embedding, result["embeddings"]) if len(result["ids"]) else []
        return [
            VectorHit(chunk_id, text or "", metadata or {}, similarity)
            for chunk_id, text, metadata, similarity in zip(
                result["ids"], result["documents"], result["metadatas"], similarities, strict=True
            )
        ]

    async def check(self) -> ComponentStatus:
        """A heartbeat (a server) or a listing (embedded)."""
        try:
            await asyncio.to_thread(self._client.heartbeat)
        except Exception as exc:
            return ComponentStatus(
                "degraded", f"{self.description} did not answer: {type(exc).__name__}: {exc}"
            )
        return ComponentStatus("real", self.description)

    async def aclose(self) -> None:
        """Nothing: chromadb's close() stops the system shared by every client of the same path or
        server in this process, which breaks the others; the process's exit releases it."""


@dataclass
class InMemoryVectorStore:
    """A vector store in a dict, exact cosine search; the fake for tests and the contract's reference."""

    collections: dict[str, dict[str, StoredChunk]] = field(default_factory=dict)

    async def add(self, creator_id: str, chunks: Sequence[StoredChunk]) -> None:
        """Store (or replace) chunks."""
        collection = self.collections.setdefault(creator_id, {})
        for chunk in chunks:
            collection[chunk.chunk_id] = chunk

    async def query(self, creator_id: str, embedding: Sequence[float], k: int) -> list[VectorHit]:
        """Exact nearest neighbours by cosine similarity."""
        hits = [
            VectorHit(chunk.chunk_id, chunk.text, chunk.metadata, _cosine(embedding, chunk.embedding))
            for chunk in self.collections.get(creator_id, {}).values()
        ]
        return sorted(hits, key=lambda hit: hit.similarity, reverse=True)[:k]

    async def nearest(self, creator_id: str, embedding: Sequence[float], k: int) -> list[tuple[str, float]]:
        """Exact nearest ids and similarities."""
        return [(hit.chunk_id, hit.similarity) for hit in await self.query(creator_id, embedding, k)]

    async def delete_document(self, creator_id: str, document_id: str) -> None:
        """Drop a document's chunks."""
        collection = self.collections.get(creator_id, {})
        for chunk_id in [
            key for key, chunk in collection.items() if chunk.metadata.get("document_id") == document_id
        ]:
            del collection[chunk_id]

    async def count(self, creator_id: str) -> int:
        """Chunks held for the creator."""
        return len(self.collections.get(creator_id, {}))

    async def chunks(self, creator_id: str) -> list[VectorHit]:
        """Every chunk held for the creator."""
        return [
            VectorHit(chunk.chunk_id, chunk.text, chunk.metadata, 0.0)
            for chunk in self.collections.get(creator_id, {}).values()
        ]

    async def get(
        self, creator_id: str, chunk_ids: Sequence[str], embedding: Sequence[float]
    ) -> list[VectorHit]:
        """These chunks with their similarity to `embedding`."""
        collection = self.collections.get(creator_id, {})
        return [
            VectorHit(
                chunk_id,
                collection[chunk_id].text,
                collection[chunk_id].metadata,
                _cosine(embedding, collection[chunk_id].embedding),
            )
            for chunk_id in chunk_ids
            if chunk_id in collection
        ]

    async def check(self) -> ComponentStatus:
        """Always there."""
        return ComponentStatus("real", "in-memory vector store (tests)")

    async def aclose(self) -> None:
        """Nothing to release."""


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def _cosines(query: Sequence[float], vectors: Any) -> list[float]:
    """The cosine of `query` with each row of `vectors`, at once (a Python loop over 384 dimensions
    cost about 50 µs a chunk)."""
    matrix = np.asarray(vectors, dtype=np.float32)
    target = np.asarray(query, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(target))
    dots = matrix @ target
    return [float(dot / norm) if norm else 0.0 for dot, norm in zip(dots, norms, strict=True)]


def build_vector_store(chroma_url: str, data_dir: Path) -> VectorStore:
    """A Chroma server when `COACH_CHROMA_URL` is set, else embedded Chroma in the data dir."""
    if chroma_url:
        return ChromaVectorStore.server(chroma_url)
    return ChromaVectorStore.embedded(data_dir / "chroma")
