"""The shared schema: the ORM base, creators, people, their channel accounts, conversations, the outbox.

Every layer may read these tables; the core's own tables (roles, inbox, history, audit) are in
`bot.models`, the engines' in `coaching.models` and `programs.models`, all on this one `Base`.

Timestamps are stored in UTC and always come back timezone-aware, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime column; SQLite forgets the zone, so it is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Stable constraint names so that Alembic migrations are the same on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base of every Coachline table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}  # noqa: RUF012 - SQLAlchemy's API


class Creator(Base):
    """A coach whose twin talks to clients. One is the default, created at first start."""

    __tablename__ = "creators"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    claim_code_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    claim_code_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class User(Base):
    """A person, known through one or more channel accounts."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    display_name: Mapped[str | None] = mapped_column(String(200), default=None)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id"))  # whose twin they talk to
    created_at: Mapped[datetime]


class ChannelAccount(Base):
    """A user's identity on one channel (a Telegram user id, a Slack member id, a phone number)."""

    __tablename__ = "channel_accounts"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_channel_accounts_channel_external"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    # False once the platform says the person blocked the bot: nothing is sent until they write again.
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set when the person opted out (SMS STOP): nothing is sent until they opt back in (START).
    opted_out_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]


class Conversation(Base):
    """Where a user and a creator's twin talk on one channel; its reference addresses replies."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint(
            "creator_id", "user_id", "channel", "chat_id", "thread_id", name="uq_conversations_key"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(255))
    # "" rather than NULL: NULLs are distinct in unique constraints, which would allow duplicates.
    thread_id: Mapped[str] = mapped_column(String(255), default="")
    # /reset sets this to the newest history id: memory only includes turns after it. An id rather
    # than a time, so that turns in the same instant as the reset are ordered correctly.
    memory_after_id: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class OutboxMessage(Base):
    """A message to send; written in the same transaction that finishes its cause, sent with retries."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
        Index("ix_outbox_status_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Unique per cause (e.g. "inbox:12:0"), so a message processed twice cannot queue a reply twice.
    dedupe_key: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(32), index=True)
    conversation_ref: Mapped[dict[str, Any]]
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), default=None)
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"), default=None, index=True)
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # sources, buttons, reply-to
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # Attempts whose outcome was recorded (sent, failed, retry). `attempts - settled_attempts` is how
    # many were cut off (a kill -9, a lost lease): each may have reached the platform, so a report
    # counts them as possible extra deliveries instead of hiding them.
    settled_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    platform_message_id: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    # The platform's later report (status callbacks): "delivered", "failed" or "undelivered".
    delivery_status: Mapped[str | None] = mapped_column(String(16), default=None)
    delivery_updated_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
