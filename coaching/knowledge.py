"""The knowledge base: creators' documents in, relevant passages out.

Ingest = parse → chunk → embed → store, all-or-nothing: a document is searchable only once every chunk
is stored ("ready"); a failure on the way removes what was stored. Its lexical rows are written in the
transaction that makes it ready. Search = the creator's nearest chunks by embedding and their best
chunks by the database's full-text ranking (`lexical.py`), fused by reciprocal rank, of ready
documents only — looked up for the candidates alone, never by listing every document.

Relevance is the cosine similarity of the question's and the chunk's embeddings, clipped to [0, 1]
(the embedder's vectors are unit length, so this is their dot product).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.foundation.clock import Clock
from bot.foundation.messages import Source
from coaching.answerability import AnswerabilityModel, Judgement, ReplyLimits, judge
from coaching.documents import (
    Chunk,
    DocumentRejected,
    ParsedDocument,
    chunk_document,
    content_hash,
    parse_document,
)
from coaching.documents.passage_kinds import classify_passage
from coaching.embeddings import Embedder
from coaching.generation import ContextPassage
from coaching.lexical import CHUNK_TERMS, ChunkTerms, reciprocal_rank_fusion
from coaching.models import KnowledgeDocument
from coaching.passages import context_passages
from coaching.query_cache import QueryVectors
from coaching.sentence_store import SentenceStore, embed_sentences
from coaching.status import ComponentStatus
from coaching.vector_store import StoredChunk, VectorHit, VectorStore

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (stage, done, total)
Outcome = Literal["created", "duplicate", "replaced"]
EMBED_BATCH = 32
READY_REMEMBERED = 50_000  # documents remembered as ready (a few MB at most)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What came of an upload."""

    document: KnowledgeDocument
    outcome: Outcome  # duplicate: the same content was already there; replaced: a new version of a file
    replaced_document_id: str | None = None


class ReadyDocument(NamedTuple):
    """What a search hit needs of its ready document."""

    id: str
    creator_id: str
    title: str
    filename: str


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A chunk that matches a query."""

    text: str
    document_id: str
    title: str
    source: str  # the file name
    location: str  # "page 4", "section 'Goals'"
    position: int
    relevance: float
    kind: str = "prose"  # what the passage is (`passage_kinds`): only prose and lists are quoted

    @property
    def chunk_id(self) -> str:
        """The chunk's id in the vector store."""
        return f"{self.document_id}:{self.position}"

    def to_source(self) -> Source:
        """The citation form used in replies."""
        return Source(document=self.title, location=self.location, relevance_score=round(self.relevance, 4))


class KnowledgeBase:
    """Per-creator document ingestion and search."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: VectorStore,
        embedder: Embedder,
        clock: Clock,
        *,
        max_upload_bytes: int,
        min_relevance: float,
    ) -> None:
        self._sessions = sessions
        self.store = store
        self.embedder = embedder
        self._clock = clock
        self.max_upload_bytes = max_upload_bytes
        self.min_relevance = min_relevance
        self._creator_locks: dict[str, asyncio.Lock] = {}
        self.lexicon = ChunkTerms(sessions)
        self.query_vectors = QueryVectors()
        # Creators seen with a ready document: only they are checked again before a search embeds.
        # Never cleared (a creator who deleted everything costs one spare embedding, then gets []).
        self._has_documents: set[str] = set()
        self.sentences = SentenceStore(sessions)
        # Calibrated for one embedder only (see `answerability`); None: only the relevance floor applies.
        self.answer_model = AnswerabilityModel.load(embedder.name)
        # Documents seen ready, for search: a document leaves "ready" only by being deleted, which
        # removes its chunks and lexical rows first (so no search finds it), so a remembered one
        # needs no lookup. Forgotten here on delete; other instances never find its chunks again.
        self._ready_seen: OrderedDict[str, ReadyDocument] = OrderedDict()
        # Told (with the creator id) when a creator's set of ready documents changed.
        self._listeners: list[Callable[[str], None]] = []

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call `listener(creator_id)` whenever a creator's documents change (added, replaced, deleted)."""
        self._listeners.append(listener)

    def _changed(self, creator_id: str) -> None:
        for listener in self._listeners:
            try:
                listener(creator_id)
            except Exception:  # a listener's bug must not fail the upload that already succeeded
                log.exception("knowledge change listener failed for creator %s", creator_id)

    async def fingerprint(self, creator_id: str) -> str:
        """A digest of the creator's ready documents' contents: it changes exactly when they do."""
        async with self._sessions() as session:
            # The hashes alone: whole rows (with their JSON columns) cost far more at thousands of documents.
            hashes = sorted(
                await session.scalars(
                    select(KnowledgeDocument.content_hash).where(
                        KnowledgeDocument.creator_id == creator_id, KnowledgeDocument.status == "ready"
                    )
                )
            )
        digest = hashlib.sha256()
        for content in hashes:
            digest.update(content.encode())
        return digest.hexdigest() if hashes else ""

    async def document_texts(self, creator_id: str) -> list[str]:
        """The text of each ready document, rebuilt from its chunks in order (overlaps included)."""
        ready = await self._ready_documents(creator_id)
        by_document: dict[str, list[tuple[int, str]]] = {}
        for hit in await self.store.chunks(creator_id):
            document_id = _document_of(hit.chunk_id)
            if document_id in ready:
                position = int(hit.metadata.get("position", 0))
                by_document.setdefault(document_id, []).append((position, hit.text))
        return [
            "\n\n".join(text for _, text in sorted(by_document[document_id]))
            for document_id in sorted(by_document, key=lambda key: ready[key].created_at)
        ]

    async def ingest(
        self,
        creator_id: str,
        filename: str,
        data: bytes,
        *,
        title: str | None = None,
        description: str | None = None,
        tags: Sequence[str] = (),
        progress: Progress | None = None,
    ) -> IngestResult:
        """Add a document (or a new version of a file), or recognise content already there.

        Raises `DocumentRejected` with a user-facing reason for anything that cannot be indexed.
        """
        digest = content_hash(data)
        existing = await self._find(creator_id, content_hash=digest)
        if existing is not None:
            return IngestResult(existing, "duplicate")
        # Parsing is CPU work on untrusted bytes: off the event loop.
        parsed = await asyncio.to_thread(parse_document, filename, data, max_bytes=self.max_upload_bytes)
        chunks = await asyncio.to_thread(chunk_document, parsed)
        if not chunks:
            raise DocumentRejected("the file has no text to learn from")
        document = new_document(
            creator_id,
            filename,
            data,
            parsed,
            chunks,
            self._clock.now(),
            title=title,
            description=description,
            tags=tags,
        )
        # One ingest at a time per creator, so two uploads of one file cannot both become "the" version.
        async with self._creator_lock(creator_id):
            again = await self._find(creator_id, content_hash=digest)
            if again is not None:
                return IngestResult(again, "duplicate")
            previous = await self._find(creator_id, filename=filename)
            async with self._sessions.begin() as session:
                session.add(document)
            try:
                await self._index(document, chunks, progress)
            except BaseException:
                await self._discard(document)
                raise
            async with self._sessions.begin() as session:
                stored = await session.get_one(KnowledgeDocument, document.id)
                stored.status, stored.updated_at = "ready", self._clock.now()
                await self.lexicon.add(session, creator_id, document.id, _lexical_rows(document, chunks))
            document.status = "ready"
            if previous is not None:
                await self._discard(previous)
                self._changed(creator_id)
                return IngestResult(document, "replaced", previous.id)
        self._changed(creator_id)
        return IngestResult(document, "created")

    async def _index(
        self, document: KnowledgeDocument, chunks: list[Chunk], progress: Progress | None
    ) -> None:
        stored: list[StoredChunk] = []
        chunk_ids = [f"{document.id}:{chunk.position}" for chunk in chunks]
        # Each sentence's vector too, once, here: answering then picks sentences without the model.
        sentences = await embed_sentences(self.embedder, chunk_ids, chunks)
        kinds = {row.chunk_id: row.kind for row in sentences}
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[start : start + EMBED_BATCH]
            # The heading goes into the vector (a "Fruits" list matches questions about fruit), not the text.
            vectors = await self.embedder.embed([chunk.embedding_text for chunk in batch])
            stored.extend(
                StoredChunk(
                    chunk_id=f"{document.id}:{chunk.position}",
                    text=chunk.text,
                    embedding=vector,
                    metadata=_chunk_metadata(document, chunk, kinds[f"{document.id}:{chunk.position}"]),
                )
                for chunk, vector in zip(batch, vectors, strict=True)
            )
            if progress:
                progress("embedding", len(stored), len(chunks))
        await self.store.add(document.creator_id, stored)
        await self.sentences.add(sentences)
        if progress:
            progress("stored", len(chunks), len(chunks))

    async def _discard(self, document: KnowledgeDocument) -> None:
        """Remove a document's chunks, then its row (in that order: no searchable orphan remains)."""
        self._ready_seen.pop(document.id, None)
        await self.store.delete_document(document.creator_id, document.id)
        await self.sentences.delete_document(document.id)
        async with self._sessions.begin() as session:
            await self.lexicon.delete_document(session, document.id)
            row = await session.get(KnowledgeDocument, document.id)
            if row is not None:
                await session.delete(row)

    def _creator_lock(self, creator_id: str) -> asyncio.Lock:
        return self._creator_locks.setdefault(creator_id, asyncio.Lock())

    async def _find(
        self, creator_id: str, *, content_hash: str | None = None, filename: str | None = None
    ) -> KnowledgeDocument | None:
        query = select(KnowledgeDocument).where(
            KnowledgeDocument.creator_id == creator_id, KnowledgeDocument.status == "ready"
        )
        if content_hash is not None:
            query = query.where(KnowledgeDocument.content_hash == content_hash)
        if filename is not None:
            query = query.where(KnowledgeDocument.filename == filename)
        async with self._sessions() as session:
            return (await session.scalars(query.order_by(KnowledgeDocument.created_at.desc()))).first()

    async def documents(self, creator_id: str) -> list[KnowledgeDocument]:
        """A creator's ready documents, newest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(KnowledgeDocument)
                .where(KnowledgeDocument.creator_id == creator_id, KnowledgeDocument.status == "ready")
                .order_by(KnowledgeDocument.created_at.desc(), KnowledgeDocument.title)
            )
            return list(rows)

    async def document(self, creator_id: str, document_id: str) -> KnowledgeDocument | None:
        """One of the creator's documents (None for another creator's)."""
        async with self._sessions() as session:
            row = await session.get(KnowledgeDocument, document_id)
        return row if row is not None and row.creator_id == creator_id else None

    async def delete(self, creator_id: str, document_id: str) -> bool:
        """Forget a document and its chunks; False when the creator has no such document."""
        document = await self.document(creator_id, document_id)
        if document is None:
            return False
        await self._discard(document)
        self._changed(creator_id)
        return True

    async def search(self, creator_id: str, query: str, k: int = 5) -> list[SearchHit]:
        """The creator's `k` best chunks for `query`: vector and full-text rankings fused by reciprocal rank.

        Each hit's `relevance` is its cosine similarity to the query, whichever ranking found it.
        """
        query = query.strip()
        if not query or k <= 0:
            return []
        if not await self._has_ready_document(creator_id):
            return []  # nothing to search: spare the embedding
        vector = await self.query_vectors.embed(self.embedder, query)
        candidates = max(4 * k, 20)
        by_vector, by_words = await asyncio.gather(
            self.store.query(creator_id, vector, candidates),
            self.lexicon.search(creator_id, query, candidates),
        )
        fused = reciprocal_rank_fusion(
            [hit.chunk_id for hit in by_vector], [chunk_id for chunk_id, _ in by_words]
        )
        known = {hit.chunk_id: hit for hit in by_vector}
        # Which documents are ready, and the text of the likely winners only the words found, in one
        # round: a few spare chunks fetched cost less than a second wait.
        missing = [chunk_id for chunk_id in fused[: 2 * k] if chunk_id not in known]
        ready, fetched = await asyncio.gather(
            self._ready_among(creator_id, {_document_of(chunk_id) for chunk_id in fused}),
            self.store.get(creator_id, missing, vector),
        )
        known.update({hit.chunk_id: hit for hit in fetched})
        best = [chunk_id for chunk_id in fused if _document_of(chunk_id) in ready][:k]
        late = [chunk_id for chunk_id in best if chunk_id not in known]
        if late:  # unready documents pushed the winners past the first 2k
            known.update({hit.chunk_id: hit for hit in await self.store.get(creator_id, late, vector)})
        return [_search_hit(known[chunk_id], ready) for chunk_id in best if chunk_id in known]

    async def _has_ready_document(self, creator_id: str) -> bool:
        """Whether the creator has any ready document (one indexed probe, remembered once true)."""
        if creator_id in self._has_documents:
            return True
        async with self._sessions() as session:
            found = await session.scalar(
                select(
                    exists().where(
                        KnowledgeDocument.creator_id == creator_id, KnowledgeDocument.status == "ready"
                    )
                )
            )
        if found:
            self._has_documents.add(creator_id)
        return bool(found)

    async def _ready_among(self, creator_id: str, document_ids: set[str]) -> dict[str, ReadyDocument]:
        """Which of these documents are the creator's and ready: the remembered ones at once, the
        others by a primary-key lookup of the candidates."""
        ready = {
            document_id: known
            for document_id in document_ids
            if (known := self._ready_seen.get(document_id)) is not None and known.creator_id == creator_id
        }
        unknown = sorted(document_ids - ready.keys())
        if unknown:
            async with self._sessions() as session:
                rows = await session.execute(
                    select(
                        KnowledgeDocument.id,
                        KnowledgeDocument.creator_id,
                        KnowledgeDocument.title,
                        KnowledgeDocument.filename,
                    ).where(
                        KnowledgeDocument.id.in_(unknown),
                        KnowledgeDocument.creator_id == creator_id,
                        KnowledgeDocument.status == "ready",
                    )
                )
                for row in rows:
                    ready[row.id] = self._ready_seen[row.id] = ReadyDocument(*row)
            while len(self._ready_seen) > READY_REMEMBERED:
                self._ready_seen.popitem(last=False)
        return ready

    async def retrieve(self, creator_id: str, question: str, k: int) -> list[ContextPassage]:
        """The `k` best passages above the relevance floor, each with its kind and its sentences' similarity
        to the question (the responder's `KnowledgeRetriever`)."""
        hits = [
            hit for hit in await self.search(creator_id, question, k) if hit.relevance >= self.min_relevance
        ]
        if not hits:
            return []
        vector = await self.query_vectors.embed(self.embedder, question.strip())
        stored = await self.sentences.fetch([hit.chunk_id for hit in hits])
        return context_passages(hits, stored, vector)

    async def judge(
        self, creator_id: str, question: str, context: Sequence[ContextPassage], limits: ReplyLimits
    ) -> Judgement | None:
        """Whether `context` answers `question`, by the calibrated answerability model (the responder's
        `KnowledgeRetriever`); None without a model for this embedder or without any material."""
        if self.answer_model is None or not await self._has_ready_document(creator_id):
            return None
        return judge(self.answer_model, question, context, limits)

    async def _ready_documents(self, creator_id: str) -> dict[str, KnowledgeDocument]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(KnowledgeDocument).where(
                    KnowledgeDocument.creator_id == creator_id, KnowledgeDocument.status == "ready"
                )
            )
            return {row.id: row for row in rows}

    async def recover(self, older_than_seconds: float = 600.0) -> int:
        """Clean away documents an interrupted upload left half-indexed; returns how many.

        Only those untouched for a while: another instance may be indexing one right now.
        """
        cutoff = self._clock.now() - timedelta(seconds=older_than_seconds)
        async with self._sessions() as session:
            stale = list(
                await session.scalars(
                    select(KnowledgeDocument).where(
                        KnowledgeDocument.status == "indexing", KnowledgeDocument.updated_at < cutoff
                    )
                )
            )
        for document in stale:
            log.warning(
                "removing half-indexed document %s (%s) left by an interrupted upload",
                document.id,
                document.title,
            )
            await self._discard(document)
        await self._index_unindexed_words()
        return len(stale)

    async def _index_unindexed_words(self) -> None:
        """Give ready documents from before the stored lexical index their rows (read from the store)."""
        async with self._sessions() as session:
            unindexed = list(
                await session.execute(
                    select(KnowledgeDocument.id, KnowledgeDocument.creator_id).where(
                        KnowledgeDocument.status == "ready",
                        KnowledgeDocument.chunk_count > 0,
                        ~exists().where(CHUNK_TERMS.c.document_id == KnowledgeDocument.id),
                    )
                )
            )
        by_creator: dict[str, set[str]] = {}
        for document_id, creator_id in unindexed:
            by_creator.setdefault(creator_id, set()).add(document_id)
        for creator_id, document_ids in by_creator.items():
            chunks: dict[str, list[tuple[str, str]]] = {}
            for hit in await self.store.chunks(creator_id):
                if _document_of(hit.chunk_id) in document_ids:
                    chunks.setdefault(_document_of(hit.chunk_id), []).append((hit.chunk_id, hit.text))
            async with self._sessions.begin() as session:
                for document_id, rows in chunks.items():
                    await self.lexicon.add(session, creator_id, document_id, rows)
            log.info("indexed the words of %d earlier documents of creator %s", len(chunks), creator_id)

    async def status(self) -> tuple[ComponentStatus, ComponentStatus]:
        """(vector store, embeddings) health."""
        return await self.store.check(), await self.embedder.check()


def new_document(
    creator_id: str,
    filename: str,
    data: bytes,
    parsed: ParsedDocument,
    chunks: Sequence[Chunk],
    now: datetime,
    *,
    title: str | None = None,
    description: str | None = None,
    tags: Sequence[str] = (),
) -> KnowledgeDocument:
    """The row of a document about to be indexed ("indexing" until every chunk is stored)."""
    digest = content_hash(data)
    return KnowledgeDocument(
        id=str(uuid.uuid4()),
        creator_id=creator_id,
        title=(title or "").strip() or parsed.title or filename,
        description=description,
        filename=filename,
        kind=parsed.kind,
        tags=list(tags),
        size_bytes=len(data),
        content_hash=digest,
        pages=parsed.pages,
        word_count=sum(len(section.text.split()) for section in parsed.sections),
        chunk_count=len(chunks),
        warnings=list(parsed.warnings),
        status="indexing",
        created_at=now,
        updated_at=now,
    )


def _document_of(chunk_id: str) -> str:
    """Chunk ids are "<document id>:<position>"."""
    return chunk_id.rsplit(":", 1)[0]


def _lexical_rows(document: KnowledgeDocument, chunks: Sequence[Chunk]) -> list[tuple[str, str]]:
    """(chunk id, searchable words) per chunk; the heading is searchable too, as it is in the vector."""
    return [(f"{document.id}:{chunk.position}", chunk.embedding_text) for chunk in chunks]


def _search_hit(hit: VectorHit, ready: dict[str, ReadyDocument]) -> SearchHit:
    document = ready[_document_of(hit.chunk_id)]
    return SearchHit(
        text=hit.text,
        document_id=document.id,
        title=document.title,
        source=document.filename,
        location=str(hit.metadata.get("location", "")),
        position=int(hit.metadata.get("position", 0)),
        relevance=min(1.0, max(0.0, hit.similarity)),
        # Chunks stored before kinds were recorded are classified as they are read.
        kind=str(hit.metadata.get("kind") or classify_passage(hit.text)),
    )


def _chunk_metadata(
    document: KnowledgeDocument, chunk: Chunk, kind: str
) -> dict[str, str | int | float | bool]:
    metadata: dict[str, str | int | float | bool] = {
        "document_id": document.id,
        "creator_id": document.creator_id,
        "title": document.title,
        "source": document.filename,
        "position": chunk.position,
        "location": chunk.location,
        "kind": kind,
    }
    if chunk.page is not None:
        metadata["page"] = chunk.page
    if chunk.heading:
        metadata["section"] = chunk.heading
    return metadata


__all__ = ["DocumentRejected", "IngestResult", "KnowledgeBase", "SearchHit"]
