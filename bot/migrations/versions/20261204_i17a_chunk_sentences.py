"""chunk sentences: each chunk's kind and its sentences' embeddings, stored at ingestion

Revision ID: i17a_chunk_sentences
Revises: i16a_hardening
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i17a_chunk_sentences"
down_revision: str | None = "i16a_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chunk_sentences",
        sa.Column("chunk_id", sa.String(length=80), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("spans", sa.JSON(), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("vectors", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_chunk_sentences_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chunk_id", name=op.f("pk_chunk_sentences")),
    )
    with op.batch_alter_table("chunk_sentences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chunk_sentences_document_id"), ["document_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chunk_sentences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chunk_sentences_document_id"))
    op.drop_table("chunk_sentences")
