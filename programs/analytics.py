"""Program analytics, computed by the database from stored enrolments and events: one query per figure.

Every figure's definition:

- `enrollments`: enrolments that began in the window.
- `completion_rate`: of those, the share whose enrolment reached the end (`completed`).
- `drop_off[step]`: enrolments (of the window) whose furthest delivered step is this one and that
  are not completed — they stopped, or stalled there.
- `engagement[step]`: of that step's deliveries, the share followed by a reply or answer from the
  same enrolment within `engagement_hours` (default 24).
- `knowledge_utilisation`: of delivered steps that ask for the creator's knowledge, the share that
  found at least one passage; `average_relevance` is the mean relevance of the passages used.
- `personality_consistency`: the mean consistency score (`coaching/personality/consistency.py`) of
  the delivered messages that were written in the creator's voice.
- `top_topics`: the content words people used most in their replies and answers.

Only `top_topics` reads rows into Python (the texts of replies and answers), because content words come
from Python's tokeniser; everything else is an aggregate the database returns.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, Select, and_, case, exists, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from coaching.offline import content_words
from programs.analytics_sql import epoch_seconds, json_number_elements, utc_day
from programs.models import Enrollment, ProgramEvent, ProgramStep

DEFINITIONS = {
    "enrollments": "enrolments that began in the window",
    "enrollments_over_time": "per day (UTC) of the window: enrolments begun and completed",
    "completion_rate": "share of those enrolments that reached the end",
    "drop_off": "per step: enrolments whose furthest delivered step it is and that did not complete",
    "engagement": "per step: share of deliveries followed by a reply or answer within engagement_hours",
    "knowledge_utilisation": "share of knowledge-using deliveries that found at least one passage",
    "average_relevance": "mean relevance (0-1) of the passages used in deliveries",
    "personality_consistency": "mean style consistency (0-1) of messages written in the creator's voice",
    "top_topics": "content words people used most in replies and answers",
}
_RESPONSES = ("replied", "answered")


@dataclass(frozen=True, slots=True)
class Window:
    """The program and the enrolments an analytics request is about: those begun at or after `since`."""

    program_id: str
    since: datetime

    def enrollments(self) -> ColumnElement[bool]:
        """The condition on `Enrollment` rows of the window."""
        return and_(Enrollment.program_id == self.program_id, Enrollment.enrolled_at >= self.since)

    def events(self, *kinds: str) -> Select[Any]:
        """Events of `kinds` from enrolments of the window."""
        return (
            select(ProgramEvent)
            .join(Enrollment, Enrollment.id == ProgramEvent.enrollment_id)
            .where(
                ProgramEvent.program_id == self.program_id, ProgramEvent.kind.in_(kinds), self.enrollments()
            )
        )

    def deliveries(self) -> Select[Any]:
        """Delivered-step events of the window whose step still belongs to the program."""
        return self.events("delivered").join(
            ProgramStep,
            and_(ProgramStep.id == ProgramEvent.step_id, ProgramStep.program_id == self.program_id),
        )


async def program_analytics(
    session: AsyncSession,
    program_id: str,
    now: datetime,
    *,
    time_range_days: int = 30,
    engagement_hours: float = 24.0,
) -> dict[str, Any]:
    """Every figure for a program over the last `time_range_days` days."""
    since = now - timedelta(days=time_range_days)
    window = Window(program_id, since)
    steps = list(
        await session.scalars(
            select(ProgramStep).where(ProgramStep.program_id == program_id).order_by(ProgramStep.position)
        )
    )
    total, active, completed = await enrollment_counts(session, window)
    drop_off = await drop_off_by_step(session, window)
    engagement = await engagement_by_step(session, window, engagement_hours)
    per_step = {
        step.id: {
            "step_id": step.id,
            "step_name": step.step_name,
            "step_type": step.step_type,
            "deliveries": engagement.get(step.id, (0, 0))[0],
            "engagement_rate": _share(engagement[step.id][1], engagement[step.id][0])
            if step.id in engagement
            else None,
            "drop_off": drop_off.get(step.id, 0),
        }
        for step in steps
    }
    days = [(since + timedelta(days=offset)).date().isoformat() for offset in range(1, time_range_days + 1)]
    return {
        "program_id": program_id,
        "time_range_days": time_range_days,
        "enrollments_over_time": await enrollments_over_time(session, window, days),
        "enrollments": total,
        "active_enrollments": active,
        "completed_enrollments": completed,
        "completion_rate": _share(completed, total),
        "steps": list(per_step.values()),
        "drop_off": {
            per_step[step_id]["step_name"]: count
            for step_id, count in drop_off.items()
            if step_id in per_step
        },
        "engagement_hours": engagement_hours,
        "knowledge_utilisation": await knowledge_utilisation(session, window),
        "average_relevance": await average_relevance(session, window),
        "personality_consistency": await personality_consistency(session, window),
        "top_topics": await top_topics(session, window),
        "definitions": DEFINITIONS,
    }


async def enrollment_counts(session: AsyncSession, window: Window) -> tuple[int, int, int]:
    """(begun, still active, completed) enrolments of the window."""
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((Enrollment.status == "active", 1), else_=0)), 0),
                func.coalesce(func.sum(case((Enrollment.status == "completed", 1), else_=0)), 0),
            ).where(window.enrollments())
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def enrollments_over_time(
    session: AsyncSession, window: Window, days: list[str]
) -> list[dict[str, Any]]:
    """Per UTC day of `days`: enrolments of the window begun and completed that day."""
    begun_day, completed_day = utc_day(Enrollment.enrolled_at), utc_day(Enrollment.completed_at)
    begun = dict(
        (
            await session.execute(
                select(begun_day, func.count()).where(window.enrollments()).group_by(begun_day)
            )
        ).all()
    )
    finished = dict(
        (
            await session.execute(
                select(completed_day, func.count())
                .where(window.enrollments(), Enrollment.completed_at.is_not(None))
                .group_by(completed_day)
            )
        ).all()
    )
    return [
        {"date": day, "enrollments": int(begun.get(day, 0)), "completions": int(finished.get(day, 0))}
        for day in days
    ]


async def drop_off_by_step(session: AsyncSession, window: Window) -> dict[str, int]:
    """Step id -> enrolments of the window, not completed, whose furthest delivered step it is."""
    furthest = (
        window.deliveries()
        .with_only_columns(ProgramEvent.enrollment_id, func.max(ProgramStep.position).label("position"))
        .group_by(ProgramEvent.enrollment_id)
        .subquery()
    )
    rows = await session.execute(
        select(ProgramStep.id, func.count())
        .select_from(furthest)
        .join(Enrollment, Enrollment.id == furthest.c.enrollment_id)
        .join(
            ProgramStep,
            and_(ProgramStep.program_id == window.program_id, ProgramStep.position == furthest.c.position),
        )
        .where(Enrollment.status != "completed")
        .group_by(ProgramStep.id)
    )
    return {step_id: int(count) for step_id, count in rows}


async def engagement_by_step(
    session: AsyncSession, window: Window, engagement_hours: float
) -> dict[str, tuple[int, int]]:
    """Step id -> (deliveries, deliveries followed by a reply or answer within `engagement_hours`)."""
    response = aliased(ProgramEvent)
    followed = exists().where(
        response.enrollment_id == ProgramEvent.enrollment_id,
        response.kind.in_(_RESPONSES),
        response.at >= ProgramEvent.at,
        epoch_seconds(response.at) <= epoch_seconds(ProgramEvent.at) + engagement_hours * 3600.0,
    )
    rows = await session.execute(
        window.deliveries()
        .with_only_columns(
            ProgramStep.id,
            func.count(),
            func.coalesce(func.sum(case((followed, 1), else_=0)), 0),
        )
        .group_by(ProgramStep.id)
    )
    return {step_id: (int(delivered), int(engaged)) for step_id, delivered, engaged in rows}


async def knowledge_utilisation(session: AsyncSession, window: Window) -> float | None:
    """Of deliveries whose step asks for knowledge, the share that found at least one passage."""
    uses = ProgramEvent.data["uses_knowledge"].as_boolean()
    found = func.coalesce(ProgramEvent.data["knowledge_chunks"].as_integer(), 0) > 0
    row = (
        await session.execute(
            window.deliveries()
            .with_only_columns(func.count(), func.coalesce(func.sum(case((found, 1), else_=0)), 0))
            .where(uses.is_(True))
        )
    ).one()
    return _share(int(row[1]), int(row[0]))


async def average_relevance(session: AsyncSession, window: Window) -> float | None:
    """The mean relevance of every passage used in the window's deliveries."""
    dialect = session.get_bind().dialect.name
    elements = json_number_elements(dialect, ProgramEvent.data, "relevance")
    query = (
        window.deliveries().with_only_columns(func.avg(elements.c.value.cast(Float))).join(elements, true())
    )
    return _rounded(await session.scalar(query))


async def personality_consistency(session: AsyncSession, window: Window) -> float | None:
    """The mean consistency score of deliveries written in the creator's voice (scored ones only)."""
    score = ProgramEvent.data["personality_consistency"].as_float()
    return _rounded(await session.scalar(window.deliveries().with_only_columns(func.avg(score))))


async def top_topics(session: AsyncSession, window: Window, count: int = 10) -> list[dict[str, Any]]:
    """The content words of the window's replies and answers, most used first.

    The one figure read into Python: content words come from the offline answerer's tokeniser.
    """
    documents = await session.scalars(
        window.events(*_RESPONSES)
        .with_only_columns(ProgramEvent.data)
        .order_by(ProgramEvent.at, ProgramEvent.id)
    )
    topics: Counter[str] = Counter()
    for data in documents:
        topics.update(content_words(str(data.get("value") or data.get("text") or "")))
    return [{"topic": word, "mentions": mentions} for word, mentions in topics.most_common(count)]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
