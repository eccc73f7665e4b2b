"""The knowledge tables: the documents a creator uploaded (their chunks live in the vector store)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.foundation.tables import Base


class KnowledgeDocument(Base):
    """One uploaded document. Its chunks are searchable only while `status` is "ready"."""

    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_creator_hash", "creator_id", "content_hash"),
        Index("ix_documents_creator_filename", "creator_id", "filename"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id"))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    filename: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # pdf, docx, txt, md, html
    tags: Mapped[list[Any]] = mapped_column(default=list)
    size_bytes: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    pages: Mapped[int | None] = mapped_column(Integer, default=None)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    # "indexing" while its chunks are being stored; "ready" once all are. A crash mid-way leaves
    # "indexing", which start-up cleans away, so nothing half-indexed is ever searched.
    status: Mapped[str] = mapped_column(String(16), default="indexing")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PersonalityProfileRecord(Base):
    """One version of a creator's personality profile, analysed from their ready documents.

    `documents_fingerprint` identifies the set of documents it was made from, so a changed set
    is noticed and analysed again; older versions are kept for comparison.
    """

    __tablename__ = "personality_profiles"
    __table_args__ = (UniqueConstraint("creator_id", "version", name="uq_personality_profiles_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    documents_fingerprint: Mapped[str] = mapped_column(String(64))
    analyser: Mapped[str] = mapped_column(String(64))  # "offline" or "ollama:<model>"
    confidence_score: Mapped[float] = mapped_column(Float)
    profile: Mapped[dict[str, Any]]  # summary, traits, methodologies, style features
    created_at: Mapped[datetime]


class ChunkSentences(Base):
    """A chunk's kind and its sentences with their embeddings, stored at ingestion.

    An answer quotes sentences, not chunks: with each sentence's vector stored here (float16, row after
    row in `vectors`), choosing them costs one read by chunk id and a dot product, never a model call.
    `spans` are the sentences' [start, end) offsets in the chunk's text.
    """

    __tablename__ = "chunk_sentences"

    chunk_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    spans: Mapped[list[Any]] = mapped_column(default=list)
    dimension: Mapped[int] = mapped_column(Integer)
    vectors: Mapped[bytes] = mapped_column(LargeBinary)
