"""The program tables: programs, their steps, enrolments, the events analytics read, and user tags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.foundation.tables import Base


class Program(Base):
    """A creator's coaching program: an ordered list of steps."""

    __tablename__ = "programs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    enable_personality: Mapped[bool] = mapped_column(Boolean, default=True)
    enable_analytics: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # draft, active, archived
    # The creator's quiet hours for this program's sends, local to each user ("21:00"-"08:00").
    quiet_hours_start: Mapped[str | None] = mapped_column(String(5), default=None)
    quiet_hours_end: Mapped[str | None] = mapped_column(String(5), default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ProgramStep(Base):
    """One step of a program, in the seed's shape."""

    __tablename__ = "program_steps"
    __table_args__ = (UniqueConstraint("program_id", "step_name", name="uq_program_steps_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"), index=True)
    step_name: Mapped[str] = mapped_column(String(120))
    step_type: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    trigger_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    action_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class Enrollment(Base):
    """A person in a program: where they are, what they answered, and where to reach them."""

    __tablename__ = "enrollments"
    __table_args__ = (Index("ix_enrollments_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    conversation_ref: Mapped[dict[str, Any]]  # where steps are sent
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, completed, stopped
    position: Mapped[int] = mapped_column(Integer, default=0)
    awaiting_answer: Mapped[str | None] = mapped_column(String(120), default=None)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deliveries: Mapped[dict[str, Any]] = mapped_column(default=dict)
    replies: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    last_step_at: Mapped[datetime | None] = mapped_column(default=None)
    enrolled_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class ProgramEvent(Base):
    """Something that happened in an enrolment; analytics are computed from these rows only.

    `kind`: enrolled, delivered, replied, answered, condition, completed, stopped.
    """

    __tablename__ = "program_events"
    __table_args__ = (Index("ix_program_events_program_at", "program_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[str | None] = mapped_column(String(36), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime]


class UserTag(Base):
    """A tag on a person (given by ACTION steps or admins), for audiences."""

    __tablename__ = "user_tags"
    __table_args__ = (UniqueConstraint("user_id", "tag", name="uq_user_tags"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Broadcast(Base):
    """One message to a creator's audience (everyone, a tag, or a program's enrolments).

    Its outbox rows carry the key `broadcast:<id>:<channel account id>`, which is how the fan-out
    resumes after a crash without sending anyone a second copy, and how the report is counted.
    """

    __tablename__ = "broadcasts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"kind": "all"|"tag"|"program", "value"}
    status: Mapped[str] = mapped_column(String(16), default="fanning_out")  # fanning_out, queued
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[dict[str, Any]] = mapped_column(default=dict)  # channel -> people not reachable here
    created_by: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime]
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
