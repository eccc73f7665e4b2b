"""The core's tables: roles, claim attempts, the inbox, the conversation history, audit and pending actions.

The shared tables (creators, users, channel accounts, conversations, the outbox) and the ORM `Base` are
in `bot.foundation.tables`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from bot.foundation.tables import Base

# The inbox rows a claim looks at. SQLite uses a partial index only for a query that holds its
# condition word for word; the unary plus keeps SQLite from serving that term with the index on
# (status, lease) instead, which would read and sort every waiting row (`bot.inbox.claim_statement`).
_WAITING = "status IN ('pending', 'processing')"
WAITING_ROWS_SQLITE = text(f"+{_WAITING}")
WAITING_ROWS = text(_WAITING)


class Waiting(ColumnElement[bool]):
    """`status IN ('pending', 'processing')` on an inbox row (or an alias of it), written as the
    partial indexes on waiting rows are: `+status` on SQLite."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a comparison already: no "= 1" added on SQLite
    _traverse_internals = [("status", InternalTraversal.dp_clauseelement)]  # noqa: RUF012 (SQLAlchemy's own form)

    def __init__(self, status: ColumnElement[str] | InstrumentedAttribute[str]) -> None:
        self.status: ColumnElement[str] = (
            status.expression if isinstance(status, InstrumentedAttribute) else status
        )


@compiles(Waiting)
def _waiting(element: Waiting, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.status, **kw)} IN ('pending', 'processing')"


@compiles(Waiting, "sqlite")
def _waiting_on_sqlite(element: Waiting, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(element.status, **kw)} IN ('pending', 'processing')"


class RoleGrant(Base):
    """A role held by a user: `admin` (whole deployment) or `creator` (of `creator_id`)."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "role", "creator_id", name="uq_role_grants_user_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    creator_id: Mapped[str | None] = mapped_column(ForeignKey("creators.id"), default=None)
    granted_by: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime]


class ClaimAttempt(Base):
    """A wrong claim code someone sent: counted to limit guessing (`COACH_CLAIM_ATTEMPTS` an hour)."""

    __tablename__ = "claim_attempts"
    __table_args__ = (Index("ix_claim_attempts_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[datetime]


class InboxMessage(Base):
    """A received message, persisted before the platform is acknowledged; processed at least once,
    answered once (deduped on channel + platform message id)."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_inbox_channel_external"),
        Index("ix_inbox_status_lease", "status", "lease_expires_at"),
        # A sender's pace (the latest due time) and their latest set-aside message, found per sender.
        Index("ix_inbox_sender_due", "channel", "sender_id", "due_at"),
        Index("ix_inbox_sender_status", "channel", "sender_id", "status", "processed_at"),
        # The claim's walk in due order, and its look for a sender's older message: only the
        # waiting rows, each with what the claim checks, so neither reads the table.
        Index(
            "ix_inbox_waiting_due",
            "due_at",
            "id",
            "channel",
            "sender_id",
            "status",
            "lease_expires_at",
            sqlite_where=WAITING_ROWS_SQLITE,
            postgresql_where=WAITING_ROWS,
        ),
        Index(
            "ix_inbox_waiting_sender",
            "channel",
            "sender_id",
            "id",
            "status",
            "lease_expires_at",
            sqlite_where=WAITING_ROWS_SQLITE,
            postgresql_where=WAITING_ROWS,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    sender_id: Mapped[str] = mapped_column(String(255))
    sender_name: Mapped[str | None] = mapped_column(String(255), default=None)
    conversation_ref: Mapped[dict[str, Any]]
    text: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime]
    # When the sender's pace lets this message be answered (see `bot.pacing`): messages are claimed
    # one per sender at a time, earliest due first, so a flood waits behind its own sender only.
    # None for a message set aside (`throttled`) because its sender went over their rate.
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    # pending, processing, done, failed, throttled (over the sender's rate: kept, never answered)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class HistoryMessage(Base):
    """A turn of a conversation as both sides saw it: the conversation memory and the transcript."""

    __tablename__ = "history"
    __table_args__ = (Index("ix_history_conversation_created", "conversation_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))  # user or assistant
    text: Mapped[str] = mapped_column(Text)
    # Commands and their answers are kept in the transcript but not fed to the model as memory.
    is_command: Mapped[bool] = mapped_column(Boolean, default=False)
    sources: Mapped[list[Any]] = mapped_column(default=list)  # what an assistant turn cited
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"), default=None)
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """A creator or admin action taken in chat: who did what, when, from which channel."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    # Kept when the person is deleted: the log outlives the account it names.
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    actor: Mapped[str] = mapped_column(String(300))  # "telegram:42", the account the command came from
    channel: Mapped[str] = mapped_column(String(32))
    creator_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)  # acted for
    action: Mapped[str] = mapped_column(String(64))  # the command, e.g. "broadcast"
    target: Mapped[str | None] = mapped_column(String(300), default=None)  # "program Sleep", "user 12"
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PendingAction(Base):
    """A command waiting for its confirmation in one conversation (`/broadcast` then `/broadcast confirm`)."""

    __tablename__ = "pending_actions"
    __table_args__ = (UniqueConstraint("conversation_id", "action", name="uq_pending_actions_conversation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
