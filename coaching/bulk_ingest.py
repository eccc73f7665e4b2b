"""Bulk ingestion: many files in one pass, at the embedding model's own speed.

Per-file ingestion pays per file what a batch pays once: a parse round trip, small embedding calls
padded to the file's longest chunk, one vector-store write and three transactions, and a personality
re-analysis of every document. Here every chunk of the batch is embedded in length-sorted calls
(texts of similar length pad little), the vectors are written in one bulk add, the documents become
ready (with their lexical rows) in one transaction, and the change is announced once, so the
personality is re-analysed once per batch.

All-or-nothing per batch: a failure while embedding or storing removes every document of the batch;
a file that cannot be parsed is reported and the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select

from coaching.documents import Chunk, DocumentRejected, chunk_document, content_hash, parse_document
from coaching.documents.passage_kinds import classify_passage
from coaching.embeddings import Embedder
from coaching.knowledge import KnowledgeBase, _chunk_metadata, _lexical_rows, new_document
from coaching.models import KnowledgeDocument
from coaching.sentence_store import sentence_rows, split_sentences
from coaching.vector_store import StoredChunk

log = logging.getLogger(__name__)

# Texts per embedding call, sorted by length across the whole batch: the embedder pads each forward
# pass only to its longest text, and a call this size keeps progress moving.
EMBED_CALL = 256
FileOutcome = Literal["created", "duplicate", "replaced", "rejected"]


@dataclass(frozen=True, slots=True)
class BatchFile:
    """One file of a batch."""

    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class FileResult:
    """What came of one file of a batch."""

    filename: str
    outcome: FileOutcome
    document: KnowledgeDocument | None = None
    reason: str | None = None  # why a file was rejected
    replaced_document_id: str | None = None


@dataclass(slots=True)
class BatchProgress:
    """How far a batch has come: files parsed, chunks embedded (the long part), and the stage."""

    files_total: int
    files_parsed: int = 0
    chunks_total: int = 0
    chunks_embedded: int = 0
    stage: str = "parsing"  # parsing, embedding, storing, done, failed
    results: list[FileResult] = field(default_factory=list)


ProgressListener = Callable[[BatchProgress], None]


@dataclass(slots=True)
class _Prepared:
    file: BatchFile
    document: KnowledgeDocument
    chunks: list[Chunk]


async def ingest_batch(
    knowledge: KnowledgeBase,
    creator_id: str,
    files: Sequence[BatchFile],
    *,
    on_progress: ProgressListener | None = None,
) -> list[FileResult]:
    """Ingest `files` for a creator; one result per file, in the order given."""
    progress = BatchProgress(files_total=len(files))

    def tell() -> None:
        if on_progress is not None:
            on_progress(progress)

    results: dict[int, FileResult] = {}
    known = await _ready_by_hash(knowledge, creator_id, [content_hash(file.data) for file in files])
    prepared: list[tuple[int, _Prepared]] = []
    seen: dict[str, int] = {}
    for number, file in enumerate(files):
        digest = content_hash(file.data)
        if digest in known or digest in seen:
            duplicate = known.get(digest) or _prepared_document(prepared, seen[digest])
            results[number] = FileResult(file.filename, "duplicate", duplicate)
        else:
            try:
                # Parsing is CPU work on untrusted bytes: off the event loop.
                document, chunks = await asyncio.to_thread(_prepare, knowledge, creator_id, file)
            except DocumentRejected as rejected:
                results[number] = FileResult(file.filename, "rejected", reason=rejected.reason)
            else:
                seen[digest] = number
                prepared.append((number, _Prepared(file, document, chunks)))
        progress.files_parsed = number + 1
        tell()
    if prepared:
        async with knowledge._creator_lock(creator_id):
            results.update(await _index_all(knowledge, creator_id, prepared, progress, tell))
        knowledge._changed(creator_id)  # once for the whole batch: one personality re-analysis
    progress.results = [results[number] for number in range(len(files))]
    progress.stage = "done"
    tell()
    return progress.results


def _prepared_document(prepared: list[tuple[int, _Prepared]], number: int) -> KnowledgeDocument | None:
    """The document prepared for file `number` of this batch (a second copy is its duplicate)."""
    return next((item.document for index, item in prepared if index == number), None)


def _prepare(
    knowledge: KnowledgeBase, creator_id: str, file: BatchFile
) -> tuple[KnowledgeDocument, list[Chunk]]:
    parsed = parse_document(file.filename, file.data, max_bytes=knowledge.max_upload_bytes)
    chunks = chunk_document(parsed)
    if not chunks:
        raise DocumentRejected("the file has no text to learn from")
    return new_document(creator_id, file.filename, file.data, parsed, chunks, knowledge._clock.now()), chunks


async def _ready_by_hash(
    knowledge: KnowledgeBase, creator_id: str, digests: Sequence[str]
) -> dict[str, KnowledgeDocument]:
    async with knowledge._sessions() as session:
        rows = await session.scalars(
            select(KnowledgeDocument).where(
                KnowledgeDocument.creator_id == creator_id,
                KnowledgeDocument.status == "ready",
                KnowledgeDocument.content_hash.in_(sorted(set(digests))),
            )
        )
        return {row.content_hash: row for row in rows}


async def _index_all(
    knowledge: KnowledgeBase,
    creator_id: str,
    prepared: list[tuple[int, _Prepared]],
    progress: BatchProgress,
    tell: Callable[[], None],
) -> dict[int, FileResult]:
    previous = await _ready_by_filename(knowledge, creator_id, [item.file.filename for _, item in prepared])
    documents = [item.document for _, item in prepared]
    async with knowledge._sessions.begin() as session:
        session.add_all(documents)
    try:
        chunk_ids = [f"{item.document.id}:{chunk.position}" for _, item in prepared for chunk in item.chunks]
        chunks = [chunk for _, item in prepared for chunk in item.chunks]
        owners = [item.document for _, item in prepared for _ in item.chunks]
        # Kinds (once a chunk) and sentences are CPU work: off the event loop, which serves replies.
        kinds, (spans, sentence_texts) = await asyncio.to_thread(
            lambda: ([classify_passage(chunk.text) for chunk in chunks], split_sentences(chunks))
        )
        # Chunks and their sentences (the answer picks sentences without the model) in one stream.
        texts = [chunk.embedding_text for chunk in chunks] + sentence_texts
        vectors = await _embed(knowledge.embedder, texts, len(chunks), progress, tell)
        stored = [
            StoredChunk(
                chunk_id=chunk_id,
                text=chunk.text,
                embedding=vector,
                metadata=_chunk_metadata(document, chunk, kind),
            )
            for chunk_id, chunk, document, kind, vector in zip(
                chunk_ids, chunks, owners, kinds, vectors[: len(chunks)], strict=True
            )
        ]
        sentences = sentence_rows(chunk_ids, chunks, spans, vectors[len(chunks) :], kinds)
        progress.stage = "storing"
        tell()
        await knowledge.store.add(creator_id, stored)
        await knowledge.sentences.add(sentences)
        async with knowledge._sessions.begin() as session:
            now = knowledge._clock.now()
            rows = await session.scalars(
                select(KnowledgeDocument).where(
                    KnowledgeDocument.id.in_([document.id for document in documents])
                )
            )
            for row in rows:
                row.status, row.updated_at = "ready", now
            for _, item in prepared:
                await knowledge.lexicon.add(
                    session, creator_id, item.document.id, _lexical_rows(item.document, item.chunks)
                )
    except BaseException:
        progress.stage = "failed"
        tell()
        for document in documents:
            await knowledge._discard(document)
        raise
    results: dict[int, FileResult] = {}
    for number, item in prepared:
        item.document.status = "ready"
        old = previous.get(item.file.filename)
        if old is not None:
            await knowledge._discard(old)
            results[number] = FileResult(
                item.file.filename, "replaced", item.document, replaced_document_id=old.id
            )
        else:
            results[number] = FileResult(item.file.filename, "created", item.document)
    return results


async def _embed(
    embedder: Embedder,
    texts: Sequence[str],
    chunks: int,
    progress: BatchProgress,
    tell: Callable[[], None],
) -> list[Sequence[float]]:
    """A vector per text, in order: each distinct text embedded once, in calls of texts of similar
    length (little padding). Progress counts chunks: the share of texts done, of the batch's chunks."""
    distinct = sorted(set(texts), key=len)
    progress.stage, progress.chunks_total = "embedding", chunks
    tell()
    by_text: dict[str, Sequence[float]] = {}
    for start in range(0, len(distinct), EMBED_CALL):
        part = distinct[start : start + EMBED_CALL]
        by_text.update(zip(part, await embedder.embed(part), strict=True))
        progress.chunks_embedded = progress.chunks_total * len(by_text) // len(distinct)
        tell()
    return [by_text[text] for text in texts]


async def _ready_by_filename(
    knowledge: KnowledgeBase, creator_id: str, filenames: Sequence[str]
) -> dict[str, KnowledgeDocument]:
    """The current version of each file name, if any (replaced once the new one is ready)."""
    async with knowledge._sessions() as session:
        rows = await session.scalars(
            select(KnowledgeDocument)
            .where(
                KnowledgeDocument.creator_id == creator_id,
                KnowledgeDocument.status == "ready",
                KnowledgeDocument.filename.in_(sorted(set(filenames))),
            )
            .order_by(KnowledgeDocument.created_at)
        )
        return {row.filename: row for row in rows}
