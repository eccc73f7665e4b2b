"""The seed document's requests, replayed as it shows them, answer with the seed's field names.

Every request in `../shared/seed/integration_guide.md` is written out here (so this runs without
`../shared`); only what cannot be taken literally is adapted: the seed's `creator_456` becomes the
creator that exists, and its file `coaching_methodology.pdf` is sent as a text file of that name's stem.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bot.runtime import Coachline
from tests.support.offline import offline_knowledge

METHODOLOGY = """My Wellness Approach

Stress management starts with the breath. Deep breathing exercises help regulate stress: breathe in
for four counts, hold for four, and breathe out for six. Do it three times before a hard conversation.

Daily motivation tips: begin each morning with one small win. Small wins build momentum, and momentum
builds habits. Write down the one healthy habit you will keep today, and keep it.

Goal setting: choose ONE specific thing you want to achieve this week. Make it measurable and kind.
"""


@pytest.fixture
async def service(make_service: Callable[..., Coachline]) -> AsyncIterator[Coachline]:
    """The service answering offline (the conftest's `api` is its admin client)."""
    instance = make_service(**offline_knowledge())
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


def _keys(body: dict[str, Any], *names: str) -> None:
    missing = [name for name in names if name not in body]
    assert not missing, f"missing the seed's fields {missing} in {sorted(body)}"


async def test_the_seed_integration_flow_works_as_the_seed_shows_it(api: httpx.AsyncClient) -> None:
    creator_id = (await api.get("/api/v1/creators/me")).json()["creator_id"]

    # 1. Knowledge upload (Phase 1): multipart file, title, description.
    upload = await api.post(
        "/api/v1/creators/knowledge/upload",
        files={"file": ("coaching_methodology.txt", METHODOLOGY.encode(), "text/plain")},
        data={"title": "My Wellness Approach", "description": "Complete wellness transformation methodology"},
    )
    assert upload.status_code == 201, upload.text
    assert upload.json()["title"] == "My Wellness Approach"

    # 2. Personality analysis (Phase 2).
    analysis = await api.post(
        "/api/v1/creators/knowledge/personality/analyze",
        json={"creator_id": creator_id, "include_documents": True, "force_reanalysis": False},
    )
    assert analysis.status_code == 200, analysis.text
    profile = analysis.json()["personality_profile"]
    _keys(profile, "personality_summary", "dominant_traits", "key_methodologies", "confidence_score")
    assert all(set(trait) >= {"dimension", "value", "confidence"} for trait in profile["dominant_traits"])

    # 3. Program creation (Phase 3), at the seed's path with its trailing slash.
    program = await api.post(
        "/api/v1/creators/programs/",
        json={
            "title": "21-Day Wellness Journey",
            "description": "Complete wellness transformation",
            "enable_personality": True,
            "enable_analytics": True,
        },
    )
    assert program.status_code == 201, program.text
    program_id = program.json()["program_id"]

    # ... and its step, configs as JSON strings, TIME_BASED daily without a time.
    step = await api.post(
        f"/api/v1/creators/programs/{program_id}/steps",
        json={
            "step_type": "MESSAGE",
            "step_name": "Daily Motivation",
            "trigger_config_json": '{"trigger_type": "TIME_BASED", "schedule": "daily"}',
            "action_config_json": """{
    "action_type": "SEND_MESSAGE",
    "use_knowledge_context": true,
    "use_personality": true,
    "context_query": "daily motivation tips",
    "message_template": "Good morning! Here's your personalized tip: {enhanced_content}"
  }""",
        },
    )
    assert step.status_code == 201, step.text
    _keys(step.json(), "step_id", "step_name", "step_type", "trigger_config_json", "action_config_json")
    checked = await api.post(
        "/api/v1/creators/programs/validate-step",
        json={
            "step_type": "MESSAGE",
            "trigger_config": step.json()["trigger_config_json"],
            "action_config": {"message_template": "hi"},
        },
    )
    assert checked.json()["trigger"] == "daily at 09:00"  # the documented default time

    # 4. Integrated execution, user_context as the seed's sentence.
    executed = await api.post(
        f"/api/v1/creators/programs/{program_id}/execute",
        json={"user_context": "User wants morning motivation", "debug_mode": True},
    )
    assert executed.status_code == 200, executed.text
    execution = executed.json()["step_execution"]
    _keys(execution, "step_id", "integrations_applied", "final_output")
    _keys(execution["integrations_applied"], "knowledge_context", "personality_enhancement", "ai_generation")
    _keys(
        execution["integrations_applied"]["knowledge_context"], "query", "chunks_retrieved", "relevance_avg"
    )
    _keys(execution["final_output"], "message", "engagement_score", "personality_consistency")
    assert execution["final_output"]["message"].startswith("Good morning! Here's your personalized tip: ")
    assert execution["integrations_applied"]["knowledge_context"]["chunks_retrieved"] >= 1

    # Knowledge + personality: the enhanced context, as JSON.
    enhanced = await api.post(
        "/api/v1/creators/knowledge/knowledge-context/enhanced",
        json={"query": "stress management techniques", "include_personality": True, "limit": 10},
    )
    assert enhanced.status_code == 200, enhanced.text
    context = enhanced.json()["enhanced_context"]
    _keys(context, "knowledge_chunks", "personality_info", "personality_prompt")
    assert context["knowledge_chunks"], "the uploaded methodology talks about stress"
    assert all(
        set(chunk) >= {"content", "source", "relevance_score"} for chunk in context["knowledge_chunks"]
    )
    _keys(context["personality_info"], "personality_summary", "key_methodologies")
    _keys(context["personality_prompt"], "personalized_prompt", "confidence_score")

    # Testing integration: the seed's test-conditions body.
    expression = "knowledge_context_available AND personality_enhanced AND user_engagement_score > 0.8"
    tested = await api.post(
        f"/api/v1/creators/programs/{program_id}/test-conditions",
        json={
            "test_expressions": [
                {
                    "expression": expression,
                    "expected_result": True,
                    "description": "All systems integrated and performing well",
                }
            ],
            "variables": {
                "knowledge_context_available": True,
                "personality_enhanced": True,
                "user_engagement_score": 0.85,
            },
        },
    )
    assert tested.status_code == 200, tested.text
    [result] = tested.json()["test_results"]
    _keys(result, "expression", "result", "test_passed", "execution_time_ms")
    assert result["expression"] == expression and result["result"] is True and result["test_passed"] is True
    assert tested.json()["success_rate"] == 1.0

    # Analytics across all phases.
    analytics = await api.get(
        f"/api/v1/creators/programs/{program_id}/analytics", params={"time_range_days": 30}
    )
    assert analytics.status_code == 200, analytics.text
    seed = analytics.json()["analytics"]
    _keys(seed, "knowledge_integration", "personality_consistency", "program_effectiveness")
    _keys(seed["knowledge_integration"], "avg_relevance_score", "knowledge_utilization_rate", "top_topics")
    _keys(seed["personality_consistency"], "avg_consistency_score")
    _keys(seed["program_effectiveness"], "completion_rate", "user_satisfaction")

    # Monitoring: the integration health check.
    health = await api.get("/health/integration")
    assert health.status_code == 200 and "status" in health.json()


async def test_a_failing_seed_test_expression_lowers_the_success_rate(api: httpx.AsyncClient) -> None:
    program_id = (await api.post("/api/v1/creators/programs/", json={"title": "T"})).json()["program_id"]

    tested = await api.post(
        f"/api/v1/creators/programs/{program_id}/test-conditions",
        json={
            "test_expressions": [
                {"expression": "score > 0.8", "expected_result": True},
                {"expression": "score > 0.9", "expected_result": True},
                {"expression": "score >", "expected_result": False},
            ],
            "variables": {"score": 0.85},
        },
    )

    passed = [item["test_passed"] for item in tested.json()["test_results"]]
    assert passed == [True, False, False]
    assert tested.json()["success_rate"] == round(1 / 3, 4)
    assert "expected a value" in tested.json()["test_results"][2]["error"]
