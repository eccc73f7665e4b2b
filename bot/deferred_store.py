"""A vector store opened when the service starts, not when it is built."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from bot.startup_error import StartupError, one_line
from coaching.status import ComponentStatus
from coaching.vector_store import StoredChunk, VectorHit, VectorStore


class DeferredVectorStore:
    """A vector store opened at start, not when the service is built (embedded Chroma makes its
    directory and files when opened, a Chroma server client connects when made)."""

    def __init__(self, open_store: Callable[[], VectorStore], description: str) -> None:
        self._open_store = open_store
        self.description = description
        self._store: VectorStore | None = None

    async def open(self) -> None:
        """Open the real store (once); raises `StartupError` naming `COACH_CHROMA_URL` or the data dir."""
        if self._store is not None:
            return
        try:
            self._store = await asyncio.to_thread(self._open_store)
        except Exception as exc:
            raise StartupError(f"cannot open the vector store, {self.description}: {one_line(exc)}") from exc

    @property
    def opened(self) -> VectorStore:
        """The open store; using it before the service started is a programming error."""
        if self._store is None:
            raise RuntimeError("the vector store is opened when the service starts")
        return self._store

    async def add(self, creator_id: str, chunks: Sequence[StoredChunk]) -> None:
        """Store chunks in the creator's collection."""
        await self.opened.add(creator_id, chunks)

    async def query(self, creator_id: str, embedding: Sequence[float], k: int) -> list[VectorHit]:
        """The `k` chunks nearest to `embedding`."""
        return await self.opened.query(creator_id, embedding, k)

    async def nearest(self, creator_id: str, embedding: Sequence[float], k: int) -> list[tuple[str, float]]:
        """The ids and similarities of the `k` chunks nearest to `embedding`."""
        return await self.opened.nearest(creator_id, embedding, k)

    async def delete_document(self, creator_id: str, document_id: str) -> None:
        """Remove a document's chunks."""
        await self.opened.delete_document(creator_id, document_id)

    async def count(self, creator_id: str) -> int:
        """How many chunks the creator has."""
        return await self.opened.count(creator_id)

    async def chunks(self, creator_id: str) -> list[VectorHit]:
        """Every chunk of the creator."""
        return await self.opened.chunks(creator_id)

    async def get(
        self, creator_id: str, chunk_ids: Sequence[str], embedding: Sequence[float]
    ) -> list[VectorHit]:
        """These chunks, with their similarity to `embedding`."""
        return await self.opened.get(creator_id, chunk_ids, embedding)

    async def check(self) -> ComponentStatus:
        """Whether the store answers ("off" before the service started)."""
        if self._store is None:
            return ComponentStatus("off", f"{self.description}: not opened yet")
        return await self._store.check()

    async def aclose(self) -> None:
        """Close the store if it was opened."""
        if self._store is not None:
            await self._store.aclose()
