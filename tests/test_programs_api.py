"""The programs REST API: the seed's shapes, validation messages, execution, conditions, enrolments,
answers captured from chat, analytics and diagrams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bot.foundation.clock import FakeClock
from bot.runtime import Coachline
from tests.support.chat import ChatDriver
from tests.support.documents import text_pdf
from tests.support.offline import offline_knowledge
from tests.support.people import known_person

PROGRAMS = "/api/v1/creators/programs"


@pytest.fixture
async def service(
    make_service: Callable[..., Coachline], database_url: str, clock: FakeClock
) -> AsyncIterator[Coachline]:
    """Offline answers from a hashing embedder, on a clock the test moves."""
    instance = make_service(database_url=database_url, clock=clock, **offline_knowledge())
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


THREE_STEPS: list[dict[str, Any]] = [
    {
        "step_name": "welcome",
        "step_type": "MESSAGE",
        "trigger_config_json": json.dumps({"trigger_type": "EVENT", "event": "enrollment"}),
        "action_config_json": json.dumps({"message_template": "Welcome, {user_name}!"}),
    },
    {
        "step_name": "goal",
        "step_type": "QUESTION",
        "action_config": {
            "message_template": "What is your goal?",
            "answer_name": "goal",
            "choices": ["Eat better", "Move more"],
        },
    },
    {
        "step_name": "route",
        "step_type": "CONDITION",
        "action_config": {"condition": 'answer.goal contains "eat"', "if_true": "food", "if_false": "end"},
    },
    {
        "step_name": "food",
        "step_type": "MESSAGE",
        "action_config": {
            "use_knowledge_context": True,
            "context_query": "How many servings of vegetables?",
            "message_template": "For your goal ({answer.goal}): {enhanced_content}",
        },
    },
]


async def _program(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post(PROGRAMS, json={"title": "Healthy eating", "steps": THREE_STEPS, **overrides})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_list_get_update_and_delete(api: httpx.AsyncClient) -> None:
    created = await _program(api, description="Two weeks", enable_analytics=False)
    draft = await _program(api, title="Later", status="draft", steps=[])

    listed = (await api.get(PROGRAMS)).json()
    fetched = (await api.get(f"{PROGRAMS}/{created['id']}")).json()
    updated = (
        await api.put(
            f"{PROGRAMS}/{created['id']}",
            json={"status": "archived", "quiet_hours": {"start": "22:00", "end": "07:30"}},
        )
    ).json()
    deleted = await api.delete(f"{PROGRAMS}/{draft['id']}")
    missing = await api.get(f"{PROGRAMS}/{draft['id']}")

    assert created["status"] == "active" and draft["status"] == "draft"
    assert [step["step_name"] for step in created["steps"]] == ["welcome", "goal", "route", "food"]
    assert created["steps"][0]["trigger_config"] == {"trigger_type": "EVENT", "event": "enrollment"}
    assert json.loads(created["steps"][1]["action_config_json"])["answer_name"] == "goal"
    assert {item["title"] for item in listed["programs"]} == {"Healthy eating", "Later"}
    assert fetched["description"] == "Two weeks" and fetched["enable_analytics"] is False
    assert updated["status"] == "archived" and updated["quiet_hours"] == {"start": "22:00", "end": "07:30"}
    assert deleted.status_code == 200 and missing.status_code == 404


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {"step_name": "x", "step_type": "MESSAGE", "action_config_json": "{not json"},
            "action_config_json: not valid JSON",
        ),
        ({"step_name": "x", "step_type": "MESSAGE", "action_config_json": "[1, 2]"}, "must be a JSON object"),
        ({"step_name": "x", "step_type": "SHOUT", "action_config": {}}, "step_type: use one of MESSAGE"),
        ({"step_name": "x", "step_type": "MESSAGE", "action_config": {}}, "needs a message_template"),
        (
            {
                "step_name": "x",
                "step_type": "MESSAGE",
                "action_config": {"message_template": "Hi {usr_name}"},
            },
            "unknown placeholder {usr_name}",
        ),
        (
            {"step_name": "x", "step_type": "CONDITION", "action_config": {"condition": "day >= AND 3"}},
            "action_config.condition: expected a value",
        ),
        (
            {
                "step_name": "x",
                "step_type": "CONDITION",
                "action_config": {"condition": "day > 3", "if_true": "nowhere"},
            },
            "no step named 'nowhere'",
        ),
        (
            {
                "step_name": "x",
                "step_type": "MESSAGE",
                "trigger_config": {"trigger_type": "TIME_BASED", "time": "25:00", "schedule": "daily"},
                "action_config": {"message_template": "hi"},
            },
            "trigger_config.time: use HH:MM",
        ),
        (
            {
                "step_name": "x",
                "step_type": "MESSAGE",
                "trigger_config": {"trigger_type": "TIME_BASED", "cron": "0 8 * *"},
                "action_config": {"message_template": "hi"},
            },
            "trigger_config.cron: not a valid cron expression",
        ),
        (
            {
                "step_name": "x",
                "step_type": "MESSAGE",
                "trigger_config": {"trigger_type": "TIME_BASED"},
                "action_config": {"message_template": "hi"},
            },
            "needs exactly one of",
        ),
        (
            {"step_name": "x", "step_type": "QUESTION", "action_config": {"message_template": "Why?"}},
            "needs a name to keep the answer",
        ),
    ],
)
async def test_bad_step_configs_are_refused_saying_what_is_wrong(
    api: httpx.AsyncClient, step: dict[str, Any], message: str
) -> None:
    response = await api.post(PROGRAMS, json={"title": "Bad", "steps": [step]})
    added = await api.post(f"{PROGRAMS}/{(await _program(api, steps=[]))['id']}/steps", json=step)

    assert response.status_code == 422 and message in response.json()["detail"], response.text
    assert added.status_code == 422 and message in added.json()["detail"]
    assert all(program["title"] != "Bad" for program in (await api.get(PROGRAMS)).json()["programs"])


async def test_steps_are_added_reordered_updated_and_deleted(api: httpx.AsyncClient) -> None:
    program = await _program(api)
    base = f"{PROGRAMS}/{program['id']}/steps"

    first = (
        await api.post(
            base,
            json={
                "step_name": "intro",
                "step_type": "MESSAGE",
                "order": 0,
                "action_config": {"message_template": "Intro"},
            },
        )
    ).json()
    duplicate = await api.post(base, json={"step_name": "intro", "step_type": "WAIT"})
    ids = [step["id"] for step in (await api.get(f"{PROGRAMS}/{program['id']}")).json()["steps"]]
    reordered = await api.put(f"{base}/reorder", json={"step_ids": list(reversed(ids))})
    bad_reorder = await api.put(f"{base}/reorder", json={"step_ids": ids[:2]})
    food = next(step for step in program["steps"] if step["step_name"] == "food")
    blocked = await api.delete(f"{base}/{food['id']}")  # "route" branches to it
    renamed = await api.put(
        f"{base}/{first['id']}",
        json={"step_name": "hello", "step_type": "MESSAGE", "action_config": {"message_template": "Hello"}},
    )
    removed = await api.delete(f"{base}/{first['id']}")

    assert first["order"] == 0 and duplicate.status_code == 422
    assert [step["id"] for step in reordered.json()["steps"]] == list(reversed(ids))
    assert bad_reorder.status_code == 422 and "exactly once" in bad_reorder.json()["detail"]
    assert blocked.status_code == 422 and "no step named 'food'" in blocked.json()["detail"]
    assert renamed.json()["step_name"] == "hello" and removed.status_code == 200
    remaining = (await api.get(f"{PROGRAMS}/{program['id']}")).json()["steps"]
    assert [step["order"] for step in remaining] == [0, 1, 2, 3]


async def test_execute_runs_the_integrated_step_with_a_debug_trace(
    api: httpx.AsyncClient, service: Coachline
) -> None:
    assert service.default_creator is not None
    await service.knowledge.ingest(service.default_creator.id, "eating_guide.pdf", text_pdf())
    await service.personality.settle()
    program = await _program(api)

    result = await api.post(
        f"{PROGRAMS}/{program['id']}/execute",
        json={
            "step_name": "food",
            "user_context": {"user_name": "Sam", "answers": {"goal": "Eat better"}},
            "debug_mode": True,
        },
    )
    plain = await api.post(f"{PROGRAMS}/{program['id']}/execute", json={"user_context": {"user_name": "Sam"}})

    body = result.json()
    execution = body["execution_result"]
    assert execution["message"].startswith("For your goal (Eat better): ")
    assert execution["knowledge_context_available"] and execution["knowledge_used"]
    assert execution["personality_enhanced"] and 0 < execution["personality_consistency"] <= 1
    milestones = [item["milestone"] for item in body["debug_info"]["milestones"]]
    assert milestones[0] == "execution_started" and milestones[-1] == "execution_finished"
    assert {"knowledge_retrieved", "content_generated", "message_ready"} <= set(milestones)
    assert plain.json()["execution_result"]["message"] == "Welcome, Sam!" and "debug_info" not in plain.json()


async def test_test_conditions_reports_results_missing_variables_and_errors(api: httpx.AsyncClient) -> None:
    program = await _program(api)
    url = f"{PROGRAMS}/{program['id']}/test-conditions"

    given = (
        await api.post(
            url,
            json={
                "conditions": ["user_engagement_score > 0.8 AND day >= 3", "day >>"],
                "context": {"user_engagement_score": 0.9, "day": 3},
            },
        )
    ).json()
    own = (await api.post(url, json={"user_context": {"answer": {"goal": "Eat better"}}})).json()

    good, bad = given["results"]
    assert good["valid"] and good["result"] is True and good["missing_variables"] == []
    assert not bad["valid"] and bad["position"] == 5 and "expected a value" in bad["error"]
    assert own["results"] == [
        {
            "condition": 'answer.goal contains "eat"',
            "step_name": "route",
            "valid": True,
            "result": True,
            "variables": ["answer.goal"],
            "missing_variables": [],
        }
    ]


async def test_enrolment_answers_from_chat_analytics_and_the_diagram(
    api: httpx.AsyncClient, service: Coachline, clock: FakeClock
) -> None:
    program = await _program(api)
    url = f"{PROGRAMS}/{program['id']}"
    await known_person(service, "web", "sam")

    enrolled = await api.post(
        f"{url}/enrollments", json={"channel": "web", "user_id": "sam", "user_name": "Sam"}
    )
    again = await api.post(f"{url}/enrollments", json={"channel": "web", "user_id": "sam"})
    chat = ChatDriver(service, user_id="sam")
    reply = await chat.ask("Eat better")  # the answer to the program's question
    chatter = await chat.ask("hello")  # no question waiting: the twin answers
    listed = (await api.get(f"{url}/enrollments")).json()["enrollments"]
    analytics = (await api.get(f"{url}/analytics", params={"time_range_days": 7})).json()
    diagram = (await api.get(f"{url}/diagram")).json()["diagram"]
    text = (await api.get(f"{url}/diagram", params={"format": "mermaid"})).text

    assert enrolled.status_code == 201 and again.json()["id"] == enrolled.json()["id"]
    sent = [row.text for row in await _program_rows(service)]
    assert sent[:2] == ["Welcome, Sam!", "What is your goal?"]
    assert reply.startswith("For your goal (Eat better):")
    assert "Hi!" in chatter or "Coach" in chatter
    assert listed[0]["status"] == "completed" and listed[0]["answers"] == {"goal": "Eat better"}
    assert analytics["enrollments"] == 1 and analytics["completion_rate"] == 1.0
    goal = next(step for step in analytics["steps"] if step["step_name"] == "goal")
    assert goal["deliveries"] == 1 and goal["engagement_rate"] == 1.0
    assert analytics["personality_consistency"] is None or 0 <= analytics["personality_consistency"] <= 1
    assert {"topic": "eat", "mentions": 1} in analytics["top_topics"]
    assert set(analytics["definitions"]) >= {"completion_rate", "drop_off", "engagement"}
    assert diagram.startswith("flowchart TD") and "-->|yes|" in diagram and "-->|no| finish" in diagram
    assert text == diagram


async def test_enrolling_into_a_draft_is_refused(api: httpx.AsyncClient) -> None:
    draft = await _program(api, status="draft")

    response = await api.post(
        f"{PROGRAMS}/{draft['id']}/enrollments", json={"channel": "web", "user_id": "x"}
    )

    assert response.status_code == 409 and "activate it" in response.json()["detail"]


async def test_a_creator_cannot_see_another_creators_program(api: httpx.AsyncClient) -> None:
    program = await _program(api)
    other = (await api.post("/api/v1/creators", json={"name": "Other"})).json()

    response = await api.get(
        f"{PROGRAMS}/{program['id']}", headers={"Authorization": f"Bearer {other['api_key']}"}
    )

    assert response.status_code == 404


async def _program_rows(service: Coachline) -> list[Any]:
    from sqlalchemy import select

    from bot.foundation.tables import OutboxMessage

    async with service.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.dedupe_key.like("program:%")).order_by(OutboxMessage.id)
        )
        return list(rows)


async def test_enrolling_on_an_unknown_channel_says_which_exist(api: httpx.AsyncClient) -> None:
    program = await _program(api)

    response = await api.post(
        f"{PROGRAMS}/{program['id']}/enrollments", json={"channel": "fax", "user_id": "1"}
    )

    # The channels are the registry's: every registered channel, WhatsApp included.
    assert response.status_code == 422 and "use one of" in response.json()["detail"]
    assert all(name in response.json()["detail"] for name in ("telegram", "slack", "sms", "whatsapp"))
