"""The HTTP surface over a real server: the chat API, creators, health, the web page — and bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from bot.app import create_app
from bot.runtime import Coachline
from coaching.fake_generator import ScriptedGenerator
from tests.conftest import ADMIN_KEY
from tests.support.asgi_server import serve_asgi

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
async def api(
    make_service: Callable[..., Coachline], generator: ScriptedGenerator
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a running server (SQLite, echo generator)."""
    service = make_service(generator=generator)
    async with serve_asgi(create_app(service)) as url, httpx.AsyncClient(base_url=url, timeout=15) as client:
        yield client


async def test_chat_api_answers_with_reply_and_sources(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/v1/chat", json={"user_id": "alice", "text": "What is a habit?"}, headers=ADMIN
    )

    assert response.status_code == 200
    assert response.json() == {"reply": "echo: What is a habit?", "sources": []}


async def test_chat_api_repeated_message_id_is_answered_once(
    api: httpx.AsyncClient, generator: ScriptedGenerator
) -> None:
    body = {"user_id": "alice", "text": "once please", "message_id": "m-1"}
    first = await api.post("/api/v1/chat", json=body, headers=ADMIN)
    second = await api.post("/api/v1/chat", json=body, headers=ADMIN)

    assert first.json() == second.json()
    assert len(generator.requests) == 1


@pytest.mark.parametrize(
    ("headers", "detail"),
    [({}, "missing API key"), ({"Authorization": "Bearer wrong"}, "invalid API key")],
)
async def test_chat_api_needs_a_valid_key(
    api: httpx.AsyncClient, headers: dict[str, str], detail: str
) -> None:
    response = await api.post("/api/v1/chat", json={"user_id": "a", "text": "hi"}, headers=headers)

    assert response.status_code == 401
    assert detail in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "JSON"),
        ('{"text": "hi"}', "user_id"),
        ('{"user_id": "a", "text": 5}', "text"),
        ('["a", "b"]', "body"),
        ('{"user_id": "", "text": "hi"}', "user_id"),
        ('{"user_id": "a", "text": "hi", "extra": 1}', "extra"),
    ],
)
async def test_malformed_chat_requests_get_422_with_a_reason(
    api: httpx.AsyncClient, content: str, expected: str
) -> None:
    response = await api.post(
        "/api/v1/chat", content=content, headers={**ADMIN, "Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert expected.lower() in response.json()["detail"].lower()


@pytest.mark.parametrize(("text", "expected"), [("", "didn't catch"), ("x" * 100_000, "too long")])
async def test_empty_and_huge_messages_get_an_explanation(
    api: httpx.AsyncClient, text: str, expected: str
) -> None:
    response = await api.post("/api/v1/chat", json={"user_id": "a", "text": text}, headers=ADMIN)

    assert response.status_code == 200
    assert expected in response.json()["reply"]


async def test_admin_creates_creators_whose_keys_act_only_for_themselves(api: httpx.AsyncClient) -> None:
    created = await api.post("/api/v1/creators", json={"name": "Dana Fit"}, headers=ADMIN)
    assert created.status_code == 201
    dana = created.json()
    assert set(dana) >= {"creator_id", "api_key", "claim_code"}

    listed = (await api.get("/api/v1/creators", headers=ADMIN)).json()
    assert {"Dana Fit", "Coach"} <= {creator["name"] for creator in listed}

    dana_key = {"Authorization": f"Bearer {dana['api_key']}"}
    own = await api.post("/api/v1/chat", json={"user_id": "c1", "text": "/start"}, headers=dana_key)
    assert "Dana Fit" in own.json()["reply"]

    other = next(creator for creator in listed if creator["name"] == "Coach")
    foreign = await api.post(
        "/api/v1/chat",
        json={"user_id": "c1", "text": "hi", "creator_id": other["creator_id"]},
        headers=dana_key,
    )
    assert foreign.status_code == 403
    assert (await api.get("/api/v1/creators", headers=dana_key)).status_code == 403


async def test_admin_names_a_creator_and_an_unknown_one_is_404(api: httpx.AsyncClient) -> None:
    dana = (await api.post("/api/v1/creators", json={"name": "Dana"}, headers=ADMIN)).json()

    named = await api.post(
        "/api/v1/chat",
        json={"user_id": "z", "text": "/start", "creator_id": dana["creator_id"]},
        headers=ADMIN,
    )
    missing = await api.post(
        "/api/v1/chat", json={"user_id": "z", "text": "/start", "creator_id": "nobody"}, headers=ADMIN
    )

    assert "Dana" in named.json()["reply"]
    assert missing.status_code == 404


async def test_health_endpoints_report_every_component(api: httpx.AsyncClient) -> None:
    assert (await api.get("/health")).json() == {"status": "ok"}

    report = (await api.get("/health/integration")).json()

    components = report["components"]
    assert {"database", "vector_store", "embeddings", "llm", "scheduler", "channel:web"} <= set(components)
    assert components["database"]["state"] == "real"
    assert components["scheduler"]["state"] == "real"
    assert all(component["detail"] for component in components.values())
    # The integration guide's shape beside ours: its five checks follow the components they rest on.
    integrations = report["integrations"]
    assert integrations["database_connectivity"] is True
    assert integrations["phase3_programs"] is True
    assert integrations["ai_engine_connectivity"] is (components["llm"]["state"] == "real")
    assert set(integrations) == {
        "phase1_knowledge",
        "phase2_personality",
        "phase3_programs",
        "ai_engine_connectivity",
        "database_connectivity",
    }
    assert datetime.fromisoformat(report["timestamp"]).tzinfo is not None


async def test_web_page_gives_each_browser_its_own_conversation(
    api: httpx.AsyncClient, generator: ScriptedGenerator
) -> None:
    page = await api.get("/")
    assert page.status_code == 200 and "<textarea" in page.text
    assert "coachline_session" in page.cookies

    sent = await api.post("/web/messages", json={"text": "from the page"})
    assert sent.json()["reply"] == "echo: from the page"
    transcript = (await api.get("/web/messages")).json()["messages"]
    assert [message["text"] for message in transcript] == ["from the page", "echo: from the page"]

    async with httpx.AsyncClient(base_url=str(api.base_url)) as other_browser:
        assert (await other_browser.get("/web/messages")).json() == {"messages": []}


@pytest.mark.parametrize(
    "request_body",
    [
        {"content": '{"text": "x"}', "headers": {"Content-Type": "text/plain"}},
        {"data": {"text": "x"}},  # what a cross-site HTML form sends
    ],
)
async def test_web_page_refuses_non_json_posts(api: httpx.AsyncClient, request_body: dict[str, Any]) -> None:
    await api.get("/")
    response = await api.post("/web/messages", **request_body)

    assert response.status_code == 422
    assert (await api.get("/web/messages")).json() == {"messages": []}
