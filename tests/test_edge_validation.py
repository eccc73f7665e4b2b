"""Bad values are refused at the edge (or repaired) instead of breaking later: quiet hours, nulls in an
update, programs whose steps stopped agreeing, NUL characters and lone surrogates — never a 500."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from bot.app import create_app
from bot.foundation.clock import FakeClock
from bot.foundation.messages import ConversationReference, IncomingMessage, storable
from bot.runtime import Coachline
from channels.telegram.adapter import TelegramChannel
from channels.telegram.settings import TelegramSettings
from coaching.fake_generator import ScriptedGenerator
from config import Settings
from programs.models import Program, ProgramStep
from tests.fakes.telegram_server import run_fake_telegram
from tests.support.asgi_server import serve_asgi
from tests.support.channel_settings import own_settings
from tests.support.chat import ChatDriver
from tests.support.people import known_person

PROGRAMS = "/api/v1/creators/programs"
STEPS: list[dict[str, Any]] = [
    {
        "step_name": "hello",
        "step_type": "MESSAGE",
        "action_config": {"message_template": "Hello {user_name}"},
    },
    {
        "step_name": "route",
        "step_type": "CONDITION",
        "action_config": {"condition": "day > 3", "if_true": "later", "if_false": "end"},
    },
    {"step_name": "later", "step_type": "MESSAGE", "action_config": {"message_template": "Later"}},
]


@pytest.fixture
async def service(
    make_service: Callable[..., Coachline], database_url: str, clock: FakeClock
) -> AsyncIterator[Coachline]:
    """A started service on each database backend (PostgreSQL is where NULs used to fail)."""
    instance = make_service(database_url=database_url, clock=clock, generator=ScriptedGenerator())
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


async def _program(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await api.post(PROGRAMS, json={"title": "Evenings", "steps": STEPS, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_quiet_hours_are_stored_as_hh_mm_and_nonsense_is_refused(api: httpx.AsyncClient) -> None:
    program = await _program(api, quiet_hours={"start": "1:00", "end": "7:30"})
    refused = await api.put(
        f"{PROGRAMS}/{program['id']}", json={"quiet_hours": {"start": "25:00", "end": "7"}}
    )

    assert program["quiet_hours"] == {"start": "01:00", "end": "07:30"}
    assert refused.status_code == 422 and "quiet_hours.start" in refused.json()["detail"]


async def test_quiet_hours_stored_before_the_check_still_let_steps_run(
    api: httpx.AsyncClient, service: Coachline
) -> None:
    program = await _program(api)
    async with service.sessions.begin() as session:  # what the old API let through
        await session.execute(
            update(Program)
            .where(Program.id == program["id"])
            .values(quiet_hours_start="1:00", quiet_hours_end="6:00")
        )
    await known_person(service, "web", "sam")
    url = f"{PROGRAMS}/{program['id']}"

    diagram = await api.get(f"{url}/diagram")
    executed = await api.post(f"{url}/execute", json={"user_context": {"user_name": "Sam"}})
    enrolled = await api.post(f"{url}/enrollments", json={"channel": "web", "user_id": "sam"})
    shown = await api.get(url)

    assert diagram.status_code == 200 and executed.status_code == 200 and enrolled.status_code == 201
    assert executed.json()["execution_result"]["message"] == "Hello Sam"
    assert enrolled.json()["steps_delivered"] >= 1 or enrolled.json()["next_step_due_at"] is not None
    assert shown.json()["quiet_hours"] == {"start": "01:00", "end": "06:00"}


@pytest.mark.parametrize("field", ["title", "status", "enable_personality", "enable_analytics"])
async def test_null_for_a_field_that_cannot_be_empty_is_a_422(api: httpx.AsyncClient, field: str) -> None:
    program = await _program(api)

    response = await api.put(f"{PROGRAMS}/{program['id']}", json={field: None})

    assert response.status_code == 422
    assert f"{field}: Value error, may be left out" in response.json()["detail"]
    assert (await api.get(f"{PROGRAMS}/{program['id']}")).json()[field] is not None


async def test_null_description_and_quiet_hours_clear_them(api: httpx.AsyncClient) -> None:
    program = await _program(api, description="x", quiet_hours={"start": "22:00", "end": "07:00"})

    cleared = await api.put(f"{PROGRAMS}/{program['id']}", json={"description": None, "quiet_hours": None})

    assert cleared.status_code == 200
    assert cleared.json()["description"] is None and cleared.json()["quiet_hours"] is None


async def test_renaming_a_branch_target_is_refused_and_a_broken_program_is_a_409(
    api: httpx.AsyncClient, service: Coachline
) -> None:
    program = await _program(api)
    later = next(step for step in program["steps"] if step["step_name"] == "later")
    url = f"{PROGRAMS}/{program['id']}"

    renamed = await api.put(
        f"{url}/steps/{later['id']}",
        json={"step_name": "after", "step_type": "MESSAGE", "action_config": {"message_template": "x"}},
    )
    async with service.sessions.begin() as session:  # a program stored before renames were checked
        await session.execute(
            update(ProgramStep).where(ProgramStep.id == later["id"]).values(step_name="after")
        )
    diagram = await api.get(f"{url}/diagram")
    executed = await api.post(f"{url}/execute", json={})

    assert renamed.status_code == 422 and "no step named 'later'" in renamed.json()["detail"]
    assert diagram.status_code == 409 and "no step named 'later'" in diagram.json()["detail"]
    assert executed.status_code == 409


@pytest.mark.parametrize(
    ("user_context", "problem"),
    [({"day": "third"}, "user_context.day"), ({"answers": ["yes"]}, "user_context.answers")],
)
async def test_execute_refuses_a_test_user_of_the_wrong_shape(
    api: httpx.AsyncClient, user_context: dict[str, Any], problem: str
) -> None:
    program = await _program(api)

    response = await api.post(f"{PROGRAMS}/{program['id']}/execute", json={"user_context": user_context})

    assert response.status_code == 422 and problem in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (PROGRAMS, {"title": "Bad\x00title"}),
        ("/api/v1/creators", {"name": "Dana\x00"}),
        (PROGRAMS, {"title": "ok", "steps": [{"step_name": "a\x00", "step_type": "WAIT"}]}),
    ],
)
async def test_nul_characters_in_rest_bodies_are_a_422(
    api: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    response = await api.post(path, json=body)

    assert response.status_code == 422
    assert "NUL character" in response.json()["detail"]


async def test_nul_in_a_path_or_a_creator_id_is_not_found(api: httpx.AsyncClient) -> None:
    program = await api.get(f"{PROGRAMS}/a%00b")
    creator = await api.get(PROGRAMS, params={"creator_id": "x\x00y"})

    assert program.status_code == 404 and creator.status_code == 404


async def test_nul_in_chat_text_and_user_id_is_dropped_and_answered(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/chat", json={"user_id": "s\x00am", "text": "hel\x00lo"})

    assert response.status_code == 200
    assert response.json()["reply"] == "echo: hello"


@pytest.mark.parametrize(
    "content",
    [
        '{"user_id": "\\ud800"}',  # invalid (no text) and echoing a lone surrogate
        '{"user_id": "a", "text": 5, "creator_id": "\\udfff"}',
    ],
)
async def test_a_lone_surrogate_in_json_gets_a_readable_422(api: httpx.AsyncClient, content: str) -> None:
    response = await api.post("/api/v1/chat", content=content, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    body = response.json()
    assert isinstance(body["detail"], str) and all(
        set(problem) == {"loc", "msg", "type"} for problem in body["errors"]
    )


async def test_a_lone_surrogate_in_a_program_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post(
        PROGRAMS, content='{"title": "x\\ud800"}', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422 and "lone UTF-16 surrogate" in response.json()["detail"]


async def test_a_telegram_update_with_a_nul_is_acknowledged_and_answered(
    make_service: Callable[..., Coachline], make_settings: Callable[..., Settings], database_url: str
) -> None:
    secret = "s3cret"
    async with run_fake_telegram() as telegram:
        values = {
            "telegram_bot_token": telegram.token,
            "telegram_api_url": telegram.url,
            "telegram_webhook_secret": secret,
            "public_url": "https://coach.example.com",
        }
        channel = TelegramChannel.from_settings(
            make_settings(**values), own_settings(TelegramSettings, values, "telegram_")
        )
        service = make_service(
            database_url=database_url, channels={"telegram": channel}, generator=ScriptedGenerator(), **values
        )
        update_body = {
            "update_id": 9001,
            "message": {
                "message_id": 1,
                "date": 1_760_000_000,
                "chat": {"id": 777, "type": "private", "first_name": "N\x00ul"},
                "from": {"id": 777, "is_bot": False, "first_name": "N\x00ul"},
                "text": "hi\x00 there",
            },
        }
        async with (
            serve_asgi(create_app(service)) as url,
            httpx.AsyncClient(base_url=url, timeout=15) as client,
        ):
            response = await client.post(
                "/webhooks/telegram",
                content=json.dumps(update_body),
                headers={"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"},
            )
            [reply] = await telegram.wait_for("sendMessage")

    assert response.status_code == 200
    assert reply["text"] == "echo: hi there"


async def test_a_nul_sent_through_the_inbox_is_dropped(service: Coachline) -> None:
    reply = await ChatDriver(service, channel="web", user_id="n\x00ul", user_name="N\x00").ask("wh\x00y")

    assert reply == "echo: why"


def test_a_raw_update_is_cleaned_of_nuls_and_lone_surrogates_at_any_depth_and_kept_when_clean() -> None:
    dirty = {"message": {"text": "a\x00b", "entities": [{"note": "\ud800"}]}, "typed": "back\\u0000slash"}
    clean = {"message": {"text": "hello 😀", "entities": [{"offset": 0}]}, "typed": "back\\u0000slash"}

    cleaned = storable(dirty)

    assert cleaned == {
        "message": {"text": "ab", "entities": [{"note": "\ufffd"}]},
        "typed": "back\\u0000slash",  # what a person typed: a backslash, not a NUL
    }
    assert storable(clean) is clean  # nothing to clean: the same object, not a copy
    message = IncomingMessage(
        channel="telegram",
        user_id="1",
        conversation=ConversationReference("telegram", "1"),
        message_id="1",
        text="hi",
        received_at=datetime(2026, 12, 6, tzinfo=UTC),
        raw=dirty,
    )
    assert message.raw == cleaned
