"""lexical index in the database: chunk terms with SQLite FTS5 or PostgreSQL full-text search

Revision ID: i18_lexical_index
Revises: 0006
Create Date: 2026-12-04

One row per searchable chunk (its id, creator, document and its words without stop words). SQLite
keeps an FTS5 index over them (external content, kept in step by triggers) and ranks with `bm25()`;
PostgreSQL keeps a generated `tsvector` with a GIN index and ranks with `ts_rank_cd`. Adding or
deleting a document writes or deletes only its own rows; every instance reads the same index.
Documents that were ready before this migration get their rows from the vector store at the next
start (`KnowledgeBase.recover`).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "i18_lexical_index"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE TABLE knowledge_chunk_terms (
                id BIGSERIAL PRIMARY KEY,
                chunk_id VARCHAR(120) NOT NULL,
                creator_id VARCHAR(64) NOT NULL,
                document_id VARCHAR(36) NOT NULL,
                owner VARCHAR(32) NOT NULL,
                terms TEXT NOT NULL,
                length INTEGER NOT NULL,
                tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', terms)) STORED
            )
            """
        )
        op.execute("CREATE INDEX ix_knowledge_chunk_terms_tsv ON knowledge_chunk_terms USING GIN (tsv)")
    else:
        op.execute(
            """
            CREATE TABLE knowledge_chunk_terms (
                id INTEGER PRIMARY KEY,
                chunk_id VARCHAR(120) NOT NULL,
                creator_id VARCHAR(64) NOT NULL,
                document_id VARCHAR(36) NOT NULL,
                owner VARCHAR(32) NOT NULL,
                terms TEXT NOT NULL,
                length INTEGER NOT NULL
            )
            """
        )
        # `owner` is the creator as one token, so a creator's search intersects its own rows in the
        # index instead of scoring every creator's matches; its bm25 weight is 0.
        op.execute(
            "CREATE VIRTUAL TABLE knowledge_chunk_terms_fts USING fts5("
            "owner, terms, content='knowledge_chunk_terms', content_rowid='id')"
        )
        # Each word's document frequency, read to score candidates with BM25's own IDF.
        op.execute(
            "CREATE VIRTUAL TABLE knowledge_chunk_terms_vocab USING fts5vocab(knowledge_chunk_terms_fts, 'row')"
        )
        op.execute(
            """
            CREATE TRIGGER knowledge_chunk_terms_ai AFTER INSERT ON knowledge_chunk_terms BEGIN
                INSERT INTO knowledge_chunk_terms_fts (rowid, owner, terms)
                VALUES (new.id, new.owner, new.terms);
            END
            """
        )
        op.execute(
            """
            CREATE TRIGGER knowledge_chunk_terms_ad AFTER DELETE ON knowledge_chunk_terms BEGIN
                INSERT INTO knowledge_chunk_terms_fts (knowledge_chunk_terms_fts, rowid, owner, terms)
                VALUES ('delete', old.id, old.owner, old.terms);
            END
            """
        )
    op.execute("CREATE UNIQUE INDEX ix_knowledge_chunk_terms_chunk ON knowledge_chunk_terms (creator_id, chunk_id)")
    op.execute("CREATE INDEX ix_knowledge_chunk_terms_document ON knowledge_chunk_terms (document_id)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TRIGGER IF EXISTS knowledge_chunk_terms_ad")
        op.execute("DROP TRIGGER IF EXISTS knowledge_chunk_terms_ai")
        op.execute("DROP TABLE IF EXISTS knowledge_chunk_terms_vocab")
        op.execute("DROP TABLE IF EXISTS knowledge_chunk_terms_fts")
    op.execute("DROP TABLE IF EXISTS knowledge_chunk_terms")
