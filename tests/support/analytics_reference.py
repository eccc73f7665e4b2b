"""Program analytics as they were computed before they moved into SQL: every event loaded and looped over.

Kept as the reference the SQL aggregations in programs/analytics.py are checked against.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from statistics import fmean
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from coaching.offline import content_words
from programs.analytics import DEFINITIONS
from programs.models import Enrollment, ProgramEvent, ProgramStep


async def python_analytics(
    session: AsyncSession,
    program_id: str,
    now: datetime,
    *,
    time_range_days: int = 30,
    engagement_hours: float = 24.0,
) -> dict[str, Any]:
    """Every figure as the Python loop over all events computed it."""
    since = now - timedelta(days=time_range_days)
    steps = list(
        await session.scalars(
            select(ProgramStep).where(ProgramStep.program_id == program_id).order_by(ProgramStep.position)
        )
    )
    enrollments = list(
        await session.scalars(
            select(Enrollment).where(Enrollment.program_id == program_id, Enrollment.enrolled_at >= since)
        )
    )
    in_window = {row.id for row in enrollments}
    events = [
        event
        for event in await session.scalars(
            select(ProgramEvent).where(ProgramEvent.program_id == program_id).order_by(ProgramEvent.at)
        )
        if event.enrollment_id in in_window
    ]
    completed = sum(1 for row in enrollments if row.status == "completed")
    position = {step.id: step.position for step in steps}
    furthest: dict[int, str] = {}
    for event in events:
        if event.kind == "delivered" and event.step_id in position:
            current = furthest.get(event.enrollment_id)
            if current is None or position[event.step_id] >= position[current]:
                furthest[event.enrollment_id] = event.step_id
    status = {row.id: row.status for row in enrollments}
    drop_off = Counter(
        step_id for enrollment_id, step_id in furthest.items() if status[enrollment_id] != "completed"
    )
    responses_by_enrollment: dict[int, list[datetime]] = {}
    topics: Counter[str] = Counter()
    for event in events:
        if event.kind in ("replied", "answered"):
            responses_by_enrollment.setdefault(event.enrollment_id, []).append(event.at)
            topics.update(content_words(str(event.data.get("value") or event.data.get("text") or "")))
    window = timedelta(hours=engagement_hours)
    per_step: dict[str, dict[str, Any]] = {}
    relevances: list[float] = []
    knowledge_deliveries = knowledge_hits = 0
    consistencies: list[float] = []
    for step in steps:
        delivered = [event for event in events if event.kind == "delivered" and event.step_id == step.id]
        engaged = sum(
            1
            for event in delivered
            if any(
                event.at <= at <= event.at + window
                for at in responses_by_enrollment.get(event.enrollment_id, [])
            )
        )
        per_step[step.id] = {
            "step_id": step.id,
            "step_name": step.step_name,
            "step_type": step.step_type,
            "deliveries": len(delivered),
            "engagement_rate": round(engaged / len(delivered), 4) if delivered else None,
            "drop_off": drop_off.get(step.id, 0),
        }
        for event in delivered:
            if event.data.get("uses_knowledge"):
                knowledge_deliveries += 1
                knowledge_hits += 1 if event.data.get("knowledge_chunks") else 0
            relevances += [float(value) for value in event.data.get("relevance", [])]
            if event.data.get("personality_consistency") is not None:
                consistencies.append(float(event.data["personality_consistency"]))
    by_day = Counter(row.enrolled_at.date().isoformat() for row in enrollments)
    completed_by_day = Counter(
        row.completed_at.date().isoformat() for row in enrollments if row.completed_at is not None
    )
    days = [(since + timedelta(days=offset)).date().isoformat() for offset in range(1, time_range_days + 1)]
    return {
        "program_id": program_id,
        "time_range_days": time_range_days,
        "enrollments_over_time": [
            {"date": day, "enrollments": by_day.get(day, 0), "completions": completed_by_day.get(day, 0)}
            for day in days
        ],
        "enrollments": len(enrollments),
        "active_enrollments": sum(1 for row in enrollments if row.status == "active"),
        "completed_enrollments": completed,
        "completion_rate": round(completed / len(enrollments), 4) if enrollments else None,
        "steps": list(per_step.values()),
        "drop_off": {
            per_step[step_id]["step_name"]: count
            for step_id, count in drop_off.items()
            if step_id in per_step
        },
        "engagement_hours": engagement_hours,
        "knowledge_utilisation": round(knowledge_hits / knowledge_deliveries, 4)
        if knowledge_deliveries
        else None,
        "average_relevance": round(fmean(relevances), 4) if relevances else None,
        "personality_consistency": round(fmean(consistencies), 4) if consistencies else None,
        "top_topics": [{"topic": word, "mentions": count} for word, count in topics.most_common(10)],
        "definitions": DEFINITIONS,
    }
