"""per-sender pacing of the inbox, settled send attempts, expiring claim codes and claim attempts

Revision ID: i16a_hardening
Revises: i18_lexical_index
Create Date: 2026-12-04 17:20:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import bot.foundation.tables

revision: str = "i16a_hardening"
down_revision: str | None = "i18_lexical_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Codes issued before codes expired get the default lifetime from now, not an instant expiry.
EXISTING_CODES_VALID_FOR = timedelta(days=7)


def upgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", bot.foundation.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_inbox_sender_due", ["channel", "sender_id", "due_at"], unique=False)
        batch_op.create_index(
            "ix_inbox_sender_status", ["channel", "sender_id", "status", "processed_at"], unique=False
        )
    op.execute("UPDATE inbox SET due_at = received_at")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settled_attempts", sa.Integer(), server_default="0", nullable=False))
    # Rows settled before this column existed: every attempt they made is taken as settled.
    op.execute("UPDATE outbox SET settled_attempts = attempts WHERE status IN ('sent', 'failed')")

    with op.batch_alter_table("creators", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claim_code_expires_at", bot.foundation.tables.UTCDateTime(timezone=True), nullable=True)
        )
    creators = sa.table(
        "creators",
        sa.column("claim_code_hash", sa.String),
        sa.column("claim_code_expires_at", bot.foundation.tables.UTCDateTime(timezone=True)),
    )
    op.execute(
        creators.update()
        .where(creators.c.claim_code_hash.is_not(None))
        .values(claim_code_expires_at=datetime.now(UTC) + EXISTING_CODES_VALID_FOR)
    )

    op.create_table(
        "claim_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", bot.foundation.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_claim_attempts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_attempts")),
    )
    with op.batch_alter_table("claim_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_claim_attempts_user_at", ["user_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("claim_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_claim_attempts_user_at")
    op.drop_table("claim_attempts")
    with op.batch_alter_table("creators", schema=None) as batch_op:
        batch_op.drop_column("claim_code_expires_at")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("settled_attempts")
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_sender_status")
        batch_op.drop_index("ix_inbox_sender_due")
        batch_op.drop_column("due_at")
