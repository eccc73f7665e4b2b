"""The first ten minutes: the page says whose twin it is and what it knows, the demo creator answers
with a citation, each creator has a shareable page, and `/docs` needs no outside host."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from html.parser import HTMLParser

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.demo import DEMO_CREATOR_ID, HANDBOOK_TITLE, handbook_text, load_demo
from bot.runtime import Coachline
from bot.startup import DEMO_HINT, is_fresh_install, report_startup
from programs.models import Program
from tests.support.asgi_server import serve_asgi
from tests.support.offline import offline_knowledge


@pytest.fixture
async def service(make_service: Callable[..., Coachline]) -> AsyncIterator[Coachline]:
    """A started service answering offline from its documents."""
    instance = make_service(**offline_knowledge())
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


@pytest.fixture
async def browser(service: Coachline) -> AsyncIterator[httpx.AsyncClient]:
    """A browser (cookies kept) on the app of a started service."""
    async with (
        serve_asgi(create_app(service), lifespan="off") as url,
        httpx.AsyncClient(base_url=url, timeout=60) as client,
    ):
        yield client


async def test_a_fresh_page_says_whose_twin_it_is_and_what_to_do_next(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/")

    assert response.status_code == 200
    page = response.text
    assert "Hi! I'm the AI twin of Coach." in page
    assert "I don't know anything yet" in page
    assert 'href="/dashboard"' in page  # where the coach uploads
    assert "run.py serve --demo" in page  # and how to see a twin that knows something


async def test_the_demo_twin_answers_a_question_from_its_handbook_with_the_source(
    make_service: Callable[..., Coachline],
) -> None:
    service = make_service(**offline_knowledge())
    async with (
        serve_asgi(create_app(service, demo=True)) as url,  # the lifespan starts it and loads the demo
        httpx.AsyncClient(base_url=url, timeout=60) as browser,
    ):
        page = (await browser.get("/")).text
        answer = await browser.post("/web/messages", json={"text": "How much sleep do I need?"})
        transcript = (await browser.get("/web/messages")).json()["messages"]

    assert "Hi! I'm the AI twin of Maya Ortiz." in page
    assert f"<li>{HANDBOOK_TITLE}</li>" in page
    assert f"/c/{DEMO_CREATOR_ID}" in page and 'href="/dashboard"' in page
    assert answer.status_code == 200
    body = answer.json()
    assert "seven to nine hours" in body["reply"] and "[1]" in body["reply"]
    assert body["sources"][0]["document"] == HANDBOOK_TITLE
    assert [message["role"] for message in transcript] == ["user", "assistant"]


async def test_loading_the_demo_twice_changes_nothing(service: Coachline) -> None:
    first = await load_demo(service)
    again = await load_demo(service)

    assert (first.handbook, first.program_created) == ("created", True)
    assert (again.handbook, again.program_created) == ("duplicate", False)
    assert again.program_id == first.program_id
    assert [document.title for document in await service.knowledge.documents(DEMO_CREATOR_ID)] == [
        HANDBOOK_TITLE
    ]
    async with service.sessions() as session:
        programs = await session.scalar(
            select(func.count()).select_from(Program).where(Program.creator_id == DEMO_CREATOR_ID)
        )
    assert programs == 1


def test_the_handbook_is_a_few_pages_of_headed_prose() -> None:
    text = handbook_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)

    assert len(text.split()) > 1200  # a few pages
    assert {"Sleep", "Food", "Movement", "Calm"} <= {heading.split(":")[0] for heading in headings}


async def test_each_creator_has_a_shareable_page_with_its_own_conversation(
    service: Coachline, browser: httpx.AsyncClient
) -> None:
    await load_demo(service)

    home = (await browser.get("/")).text
    demo = await browser.get(f"/c/{DEMO_CREATOR_ID}")
    missing = await browser.get("/c/nobody-here")
    await browser.post("/web/messages", json={"text": "/start", "creator_id": DEMO_CREATOR_ID})
    demo_transcript = (await browser.get(f"/web/messages?creator_id={DEMO_CREATOR_ID}")).json()
    home_transcript = (await browser.get("/web/messages")).json()

    assert f'href="/c/{DEMO_CREATOR_ID}"' in home  # the empty default twin offers the demo
    assert demo.status_code == 200 and "AI twin of Maya Ortiz" in demo.text
    assert f'data-creator="{DEMO_CREATOR_ID}"' in demo.text
    assert missing.status_code == 404
    assert "Maya Ortiz" in demo_transcript["messages"][-1]["text"]
    assert home_transcript["messages"] == []


async def test_a_fresh_install_is_told_how_to_load_the_demo(
    service: Coachline, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="coachline"):
        await report_startup(service)
    assert await is_fresh_install(service)
    assert DEMO_HINT in caplog.text

    await load_demo(service)

    assert not await is_fresh_install(service)


class _Links(HTMLParser):
    """Every src and href in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_the_api_docs_use_no_outside_host(browser: httpx.AsyncClient, path: str) -> None:
    page = await browser.get(path)
    parser = _Links()
    parser.feed(page.text)

    assert page.status_code == 200
    assert re.findall(r"https?://", page.text) == []  # no CDN, no fonts, no validator
    assert parser.urls  # the page does load its files ...
    for url in parser.urls:
        asset = await browser.get(url)  # ... and each comes from the app itself
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    assert (await browser.get("/openapi.json")).json()["info"]["title"] == "Coachline"
