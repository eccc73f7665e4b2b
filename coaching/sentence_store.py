"""Each chunk's kind and its sentences' vectors, made at ingestion and read by chunk id when answering.

Vectors are kept as float16 (half the bytes; cosine changes by < 1e-3) in one blob per chunk, so the
sentences of the five passages an answer is chosen from come back in one indexed read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coaching.documents.model import Chunk
from coaching.documents.passage_kinds import classify_passage
from coaching.documents.sentences import sentence_spans
from coaching.embeddings import Embedder
from coaching.models import ChunkSentences

FloatMatrix = npt.NDArray[np.float32]
SENTENCE_BATCH = 256  # texts per embed call; the embedder batches further by tokens


@dataclass(frozen=True, slots=True)
class PassageSentences:
    """A chunk's kind, its sentences' offsets in its text and their unit vectors (one row each)."""

    kind: str
    spans: tuple[tuple[int, int], ...]
    vectors: FloatMatrix


def split_sentences(chunks: Sequence[Chunk]) -> tuple[list[list[tuple[int, int]]], list[str]]:
    """Each chunk's sentence offsets, and every sentence's text in order (chunk by chunk)."""
    spans = [sentence_spans(chunk.text) for chunk in chunks]
    texts = [
        chunk.text[start:end] for chunk, found in zip(chunks, spans, strict=True) for start, end in found
    ]
    return spans, texts


def sentence_rows(
    chunk_ids: Sequence[str],
    chunks: Sequence[Chunk],
    spans: Sequence[Sequence[tuple[int, int]]],
    vectors: Sequence[Sequence[float]],
    kinds: Sequence[str],
) -> list[ChunkSentences]:
    """The rows to store: each chunk's kind, its sentence offsets and their vectors (in `split_sentences`
    order), the vectors kept as float16."""
    matrix = np.asarray(vectors, dtype=np.float16)
    rows: list[ChunkSentences] = []
    offset = 0
    for chunk_id, found, kind in zip(chunk_ids, spans, kinds, strict=True):
        block = matrix[offset : offset + len(found)]
        offset += len(found)
        rows.append(
            ChunkSentences(
                chunk_id=chunk_id,
                document_id=chunk_id.rsplit(":", 1)[0],
                kind=kind,
                spans=[list(span) for span in found],
                dimension=int(block.shape[1]) if block.ndim == 2 and len(found) else 0,
                vectors=block.tobytes(),
            )
        )
    return rows


async def embed_sentences(
    embedder: Embedder, chunk_ids: Sequence[str], chunks: Sequence[Chunk]
) -> list[ChunkSentences]:
    """The rows to store for these chunks: kind, sentence offsets, sentence vectors (embedded in batches)."""
    spans, texts = split_sentences(chunks)
    vectors: list[list[float]] = []
    for start in range(0, len(texts), SENTENCE_BATCH):
        vectors.extend(await embedder.embed(texts[start : start + SENTENCE_BATCH]))
    kinds = [classify_passage(chunk.text) for chunk in chunks]
    return sentence_rows(chunk_ids, chunks, spans, vectors, kinds)


class SentenceStore:
    """Reads and writes `ChunkSentences` rows."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, rows: Sequence[ChunkSentences]) -> None:
        """Store rows (their document row must exist)."""
        if rows:
            # One executemany of plain values: the unit of work's per-object bookkeeping (and its
            # RETURNING) cost more than the write at thousands of rows a batch.
            async with self._sessions.begin() as session:
                await session.execute(
                    insert(ChunkSentences),
                    [
                        {
                            "chunk_id": row.chunk_id,
                            "document_id": row.document_id,
                            "kind": row.kind,
                            "spans": row.spans,
                            "dimension": row.dimension,
                            "vectors": row.vectors,
                        }
                        for row in rows
                    ],
                )

    async def fetch(self, chunk_ids: Sequence[str]) -> dict[str, PassageSentences]:
        """The stored sentences of these chunks (chunks ingested before sentences were stored are absent)."""
        if not chunk_ids:
            return {}
        async with self._sessions() as session:
            rows = await session.scalars(select(ChunkSentences).where(ChunkSentences.chunk_id.in_(chunk_ids)))
            return {row.chunk_id: _decoded(row) for row in rows}

    async def delete_document(self, document_id: str) -> None:
        """Forget a document's rows."""
        async with self._sessions.begin() as session:
            await session.execute(delete(ChunkSentences).where(ChunkSentences.document_id == document_id))


def _decoded(row: ChunkSentences) -> PassageSentences:
    spans = tuple((int(start), int(end)) for start, end in row.spans)
    if row.dimension and spans:
        vectors = np.frombuffer(row.vectors, dtype=np.float16).reshape(len(spans), row.dimension)
    else:
        vectors = np.zeros((len(spans), 0), dtype=np.float16)
    return PassageSentences(row.kind, spans, vectors.astype(np.float32))
