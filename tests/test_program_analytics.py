"""Program analytics in SQL give the same figures as loading every event into Python, on both databases."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.foundation.db import create_engine, session_factory
from bot.foundation.tables import Creator, User
from programs.analytics import program_analytics
from programs.models import Enrollment, Program, ProgramEvent, ProgramStep
from tests.support.analytics_reference import python_analytics

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
WORDS = ["sleep", "eat", "walk", "water", "stress", "bed", "morning", "vegetables"]


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def _seed(session: AsyncSession, seed: int) -> str:
    """A program of four steps and 40 enrolments over 40 days, with deliveries, replies and answers."""
    rng = random.Random(seed)
    session.add(Creator(id="coach", name="Coach", api_key_hash=f"hash-{seed}", created_at=NOW))
    session.add(Program(id="p1", creator_id="coach", title="Sleep", created_at=NOW, updated_at=NOW))
    session.add(Program(id="p2", creator_id="coach", title="Other", created_at=NOW, updated_at=NOW))
    steps = [f"s{index}" for index in range(4)]
    for index, step_id in enumerate(steps):
        session.add(
            ProgramStep(
                id=step_id,
                program_id="p1",
                step_name=f"step {index}",
                step_type="message",
                position=index,
                created_at=NOW,
            )
        )
    session.add(
        ProgramStep(
            id="other", program_id="p2", step_name="o", step_type="message", position=0, created_at=NOW
        )
    )
    await session.flush()
    for number in range(40):
        user = User(creator_id="coach", created_at=NOW)
        session.add(user)
        await session.flush()
        enrolled = NOW - timedelta(days=rng.uniform(0, 40), seconds=rng.randrange(86_400))
        reached = rng.randrange(0, 5)
        status = rng.choice(["active", "completed", "stopped"]) if reached else "active"
        completed_at = enrolled + timedelta(days=reached) if status == "completed" else None
        enrollment = Enrollment(
            program_id="p2" if number % 10 == 9 else "p1",
            user_id=user.id,
            conversation_ref={},
            status=status,
            enrolled_at=enrolled,
            updated_at=enrolled,
            completed_at=completed_at,
        )
        session.add(enrollment)
        await session.flush()
        for index in range(reached):
            at = enrolled + timedelta(days=index, minutes=rng.randrange(60))
            data: dict[str, Any] = {}
            if rng.random() < 0.6:
                passages = rng.randrange(0, 3)
                data = {
                    "knowledge_chunks": passages,
                    "relevance": [round(rng.random(), 3) for _ in range(passages)],
                    "uses_knowledge": rng.random() < 0.7,
                    "personality_consistency": rng.choice([None, round(rng.random(), 3)]),
                }
            step_id = steps[index] if rng.random() < 0.95 else "gone"  # a step deleted since
            session.add(
                ProgramEvent(
                    program_id=enrollment.program_id,
                    enrollment_id=enrollment.id,
                    step_id=step_id,
                    kind="delivered",
                    data=data,
                    at=at,
                )
            )
            if rng.random() < 0.6:
                later = at + timedelta(hours=rng.choice([0.0, 1.5, 23.9, 24.5, 30.0]))
                kind = rng.choice(["replied", "answered"])
                text = " ".join(rng.sample(WORDS, 3))
                said = {"text": text} if kind == "replied" else {"name": "goal", "value": text}
                session.add(
                    ProgramEvent(
                        program_id=enrollment.program_id,
                        enrollment_id=enrollment.id,
                        step_id=None if kind == "replied" else step_id,
                        kind=kind,
                        data=said,
                        at=later,
                    )
                )
    await session.commit()
    return "p1"


@pytest.mark.parametrize("seed", [1, 2])
async def test_sql_analytics_equal_the_python_computation(session: AsyncSession, seed: int) -> None:
    program_id = await _seed(session, seed)

    for days, hours in ((30, 24.0), (7, 2.0), (60, 48.0)):
        expected = await python_analytics(
            session, program_id, NOW, time_range_days=days, engagement_hours=hours
        )
        actual = await program_analytics(
            session, program_id, NOW, time_range_days=days, engagement_hours=hours
        )

        assert actual == expected
    assert expected["enrollments"] > 20 and expected["average_relevance"] is not None
    assert any(step["drop_off"] for step in expected["steps"])
    assert expected["knowledge_utilisation"] is not None and expected["top_topics"]


async def test_a_program_without_enrolments_has_no_rates(session: AsyncSession) -> None:
    session.add(Creator(id="coach", name="Coach", api_key_hash="hash", created_at=NOW))
    session.add(Program(id="p1", creator_id="coach", title="Sleep", created_at=NOW, updated_at=NOW))
    await session.commit()

    figures = await program_analytics(session, "p1", NOW, time_range_days=3)

    assert figures["enrollments"] == 0 and figures["completion_rate"] is None
    assert figures["knowledge_utilisation"] is None and figures["average_relevance"] is None
    assert figures["top_topics"] == [] and figures["drop_off"] == {}
    assert [day["date"] for day in figures["enrollments_over_time"]] == [
        "2026-12-02",
        "2026-12-03",
        "2026-12-04",
    ]
