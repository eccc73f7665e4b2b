"""The dashboard in a real headless browser (Debian's chromium driven by Playwright, no download):
sign in, upload a document, build a three-step program with a condition, watch the diagram change,
run a step, and see the analytics chart. Screenshots go to test-artifacts/dashboard/ for people."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import create_app
from bot.runtime import Coachline
from tests.conftest import ADMIN_KEY
from tests.support.asgi_server import serve_asgi
from tests.support.documents import text_pdf
from tests.support.offline import offline_knowledge
from tests.support.people import known_person

playwright_api = pytest.importorskip("playwright.async_api")
CHROMIUM = next((path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt install chromium)"
)

SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "dashboard"
# Chromium on a closed network: no background connections, no sandbox as root (as Debian's probe ran it).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def site(make_service: Callable[..., Coachline]) -> AsyncIterator[tuple[str, Coachline]]:
    """The app on a loopback port, answering offline."""
    service = make_service(**offline_knowledge())
    await service.start()
    try:
        async with serve_asgi(create_app(service), lifespan="off") as url:
            yield url, service
    finally:
        await service.stop()


@pytest.fixture
async def page(site: tuple[str, Coachline]) -> AsyncIterator[Any]:
    """A fresh headless chromium page; console errors fail the test."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            errors: list[str] = []
            # The wrong-key sign-in's 401 is expected; any other console error is a bug.
            page.on(
                "console",
                lambda message: (
                    errors.append(message.text)
                    if message.type == "error" and "status of 401" not in message.text
                    else None
                ),
            )
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.errors = errors
            yield page
            await context.close()
        finally:
            await browser.close()
    assert errors == [], errors


async def _shot(page: Any, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def test_sign_in_upload_build_run_and_analytics(
    page: Any, site: tuple[str, Coachline], tmp_path: Path
) -> None:
    url, service = site
    await page.goto(f"{url}/dashboard")
    await page.fill("#api-key", "wrong-key")
    await page.click("#sign-in-form button")
    await page.wait_for_selector("#sign-in-error:has-text('not valid')")
    await page.fill("#api-key", ADMIN_KEY)
    await page.click("#sign-in-form button")
    await page.wait_for_selector("#documents")
    await _shot(page, "1-signed-in")

    # Knowledge: upload with progress, then the search view.
    guide = tmp_path / "eating_guide.pdf"
    guide.write_bytes(text_pdf())
    await page.set_input_files("#upload-file", str(guide))
    await page.click("#upload-button")
    await page.wait_for_selector("#upload-status:has-text('Learned')", timeout=60_000)
    assert await page.locator("#documents tbody tr").count() == 1
    await page.fill("#search-query", "How many servings of vegetables should I eat?")
    await page.click("#search-button")
    await page.wait_for_selector("#search-results .hit")
    assert "relevance" in await page.inner_text("#search-results")
    await _shot(page, "2-knowledge")

    # Several files at once: one batch job, its progress polled until it says what came of each.
    notes = [tmp_path / "sleep.md", tmp_path / "water.txt"]
    notes[0].write_text("# Sleep\n\nGo to bed at the same time every night, even at weekends.")
    notes[1].write_text("Drink a glass of water with every meal and one after each walk.")
    await page.set_input_files("#upload-file", [str(note) for note in notes])
    await page.click("#upload-button")
    await page.wait_for_selector("#upload-status:has-text('Batch done: 2 learned')", timeout=60_000)
    assert await page.locator("#documents tbody tr").count() == 3

    # Personality: the profile made from the upload.
    await page.click("nav button[data-tab=personality]")
    await page.wait_for_selector("#traits tr")
    assert await page.locator("#traits tr").count() == 6

    # Programs: build three steps with a condition, watching the diagram.
    await page.click("nav button[data-tab=programs]")
    await page.fill("#new-program-title", "Eat well")
    await page.click("#create-program")
    await page.wait_for_selector("#program-title:has-text('Eat well')")
    assert await page.locator("#flow .node:not(.terminal)").count() == 0

    await page.click("#add-step")
    await page.fill("#step-name", "welcome")
    await page.fill("#message-template", "Hi {user_name}, welcome!")
    await page.wait_for_selector("#step-validation.valid")
    await page.click("#save-step")
    await page.wait_for_selector("#steps [data-step=welcome]")

    await page.click("#add-step")
    await page.fill("#step-name", "goal")
    await page.select_option("#step-type", "QUESTION")
    await page.fill("#message-template", "What is your goal?")
    await page.wait_for_selector("#step-validation.invalid:has-text('answer')")  # a question needs a name
    await page.fill("#answer-name", "goal")
    await page.fill("#choices", "Eat better, Move more")
    await page.wait_for_selector("#step-validation.valid")
    await page.click("#save-step")
    await page.wait_for_selector("#steps [data-step=goal]")
    assert await page.locator("#flow .node:not(.terminal)").count() == 2

    await page.click("#add-step")
    await page.fill("#step-name", "route")
    await page.select_option("#step-type", "CONDITION")
    await page.fill("#condition", "answer.goal contains")
    await page.wait_for_selector("#step-validation.invalid")
    assert "^" in await page.inner_text("#condition-caret")  # points at where the condition breaks
    await page.fill("#condition", 'answer.goal contains "eat"')
    await page.select_option("#if-false", "end")
    await page.wait_for_selector("#step-validation.valid")
    assert await page.locator("#flow .node.CONDITION").count() == 1  # the draft is drawn already
    await _shot(page, "3-builder-with-condition")
    await page.click("#save-step")
    await page.wait_for_selector("#steps [data-step=route]")
    assert await page.locator("#flow .node:not(.terminal)").count() == 3
    assert "no" in await page.inner_text("#flow")

    # Run a step for a test user: the message and the debug trace.
    await page.select_option("#run-step", label="welcome")
    await page.click("#run-button")
    await page.wait_for_selector("#run-message:has-text('Hi Test user, welcome!')")
    assert await page.locator("#trace tr").count() >= 3
    await _shot(page, "4-run-step")

    # Activate, enrol someone through the API, and see the analytics charts.
    await page.click("#activate")
    await page.wait_for_selector("#program-status:has-text('active')")
    programs = (await _api(url, "GET", "/api/v1/creators/programs"))["programs"]
    await known_person(service, "web", "sam")  # only people who talked to the twin can be enrolled
    await _api(
        url,
        "POST",
        f"/api/v1/creators/programs/{programs[0]['id']}/enrollments",
        {"channel": "web", "user_id": "sam"},
    )
    await page.click("nav button[data-tab=analytics]")
    await page.wait_for_selector(".time-chart")
    assert await page.locator(".time-chart rect.bar-rect[data-value='1']").count() >= 1
    assert await page.locator(".bar-chart").count() >= 2
    assert await page.inner_text("#completion-rate") in ("0%", "100%")
    await _shot(page, "5-analytics")

    # Audience: a broadcast is previewed and confirmed before it goes.
    await page.click("nav button[data-tab=audience]")
    await page.wait_for_selector("#channels")
    await page.fill("#broadcast-text", "Workshop on Friday!")
    await page.click("#broadcast-preview-button")
    await page.wait_for_selector("#broadcast-confirm:has-text('Workshop on Friday!')")
    await _shot(page, "6-audience")


async def test_the_dashboard_is_strictly_self_contained(site: tuple[str, Coachline]) -> None:
    url, _ = site
    async with httpx.AsyncClient(base_url=url) as client:
        page = await client.get("/dashboard")
        script = await client.get("/dashboard/assets/main.js")
        escape = await client.get("/dashboard/assets/..%2Froutes.py")
        unknown = await client.get("/dashboard/assets/nothing.js")

    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN, no external asset
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert escape.status_code == 404 and unknown.status_code == 404


async def _api(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        response = await client.request(method, path, json=body)
        response.raise_for_status()
        return response.json()


async def test_the_audience_tab_marks_people_on_an_unconfigured_channel_not_reachable(
    page: Any, site: tuple[str, Coachline]
) -> None:
    url, service = site
    await known_person(service, "telegram", "42")  # wrote while Telegram ran; it is off here
    await page.goto(f"{url}/dashboard")
    await page.fill("#api-key", ADMIN_KEY)
    await page.click("#sign-in-form button")
    await page.wait_for_selector("#documents")
    await page.click("nav button[data-tab=audience]")
    await page.wait_for_selector("#channels td.not-reachable")

    cell = await page.inner_text("#channels td.not-reachable")
    assert cell.startswith("0") and "TELEGRAM_BOT_TOKEN" in cell
