"""The service with a real Ollama client against a fake Ollama server: the model answers when it can,
and the person still gets a reply within seconds when it cannot."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from bot.app import create_app
from bot.runtime import Coachline
from tests.conftest import ADMIN_KEY
from tests.fakes.ollama_server import run_fake_ollama
from tests.support.asgi_server import serve_asgi

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def test_reply_comes_from_the_model_when_ollama_answers(make_service: Callable[..., Coachline]) -> None:
    async with run_fake_ollama(reply="Start with ten minutes a day.") as ollama:
        service = make_service(llm="auto", ollama_url=ollama.url, ollama_model="llama3.1:8b")
        async with (
            serve_asgi(create_app(service)) as url,
            httpx.AsyncClient(base_url=url, timeout=15) as client,
        ):
            answer = await client.post(
                "/api/v1/chat", json={"user_id": "alice", "text": "How do I begin meditating?"}, headers=ADMIN
            )
            health = (await client.get("/health/integration")).json()["components"]["llm"]

        sent = ollama.chat_requests[-1]["messages"]

    assert answer.json()["reply"] == "Start with ten minutes a day."
    assert health["state"] == "real"
    assert sent[0]["role"] == "system" and "Coach" in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "How do I begin meditating?"}


async def test_a_model_that_times_out_still_gets_the_person_a_reply_within_seconds(
    make_service: Callable[..., Coachline],
) -> None:
    async with run_fake_ollama(delay_before_first_token=3600) as ollama:  # never, while the test runs
        service = make_service(llm="auto", ollama_url=ollama.url, llm_first_token_timeout=1.0)
        async with (
            serve_asgi(create_app(service)) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as client,
        ):
            answer = await client.post(
                "/api/v1/chat", json={"user_id": "bob", "text": "hello"}, headers=ADMIN
            )
            health = (await client.get("/health/integration")).json()["components"]["llm"]

    assert answer.status_code == 200
    assert (
        "Coach" in answer.json()["reply"]
    )  # the offline generator's greeting: it did not wait for the model
    assert health["state"] == "degraded" and "offline" in health["detail"]
    assert health["first_token_fallbacks"] == 1 and "no first token within 1 s" in health["detail"]


async def test_health_says_the_llm_is_offline_and_why_when_nothing_listens(
    make_service: Callable[..., Coachline], unused_port: int
) -> None:
    service = make_service(llm="auto", ollama_url=f"http://127.0.0.1:{unused_port}")
    async with serve_asgi(create_app(service)) as url, httpx.AsyncClient(base_url=url, timeout=15) as client:
        llm = (await client.get("/health/integration")).json()["components"]["llm"]
        answer = await client.post("/api/v1/chat", json={"user_id": "c", "text": "hi"}, headers=ADMIN)

    assert llm["state"] == "degraded"
    assert "offline" in llm["detail"] and f"127.0.0.1:{unused_port}" in llm["detail"]
    assert answer.status_code == 200 and answer.json()["reply"]


async def test_offline_mode_never_calls_a_model(make_service: Callable[..., Coachline]) -> None:
    async with run_fake_ollama() as ollama:
        service = make_service(llm="offline", ollama_url=ollama.url)
        async with (
            serve_asgi(create_app(service)) as url,
            httpx.AsyncClient(base_url=url, timeout=15) as client,
        ):
            await client.post("/api/v1/chat", json={"user_id": "d", "text": "hi"}, headers=ADMIN)
            llm = (await client.get("/health/integration")).json()["components"]["llm"]

        assert ollama.requests == []
    assert llm["state"] == "real" and "offline" in llm["detail"]
