"""An admin issues a creator a new claim code or API key: the old one stops working at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime

import httpx
import pytest

from bot.app import create_app
from bot.foundation.clock import FakeClock
from bot.runtime import Coachline
from tests.conftest import ADMIN_KEY
from tests.support.asgi_server import serve_asgi
from tests.support.chat import ChatDriver

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CLAIM_HOURS = 48


@pytest.fixture
async def clocked(make_service: Callable[..., Coachline], clock: FakeClock) -> AsyncIterator[Coachline]:
    """A started service whose clock the test moves."""
    service = make_service(clock=clock, claim_code_hours=CLAIM_HOURS)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def client(clocked: Coachline) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running service, with no key of its own."""
    async with (
        serve_asgi(create_app(clocked), lifespan="off") as url,
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):
        yield http


async def test_a_new_claim_code_voids_the_old_one_even_before_it_expired(
    clocked: Coachline, client: httpx.AsyncClient
) -> None:
    made = (await client.post("/api/v1/creators", json={"name": "Dana"}, headers=ADMIN)).json()
    issued = (await client.post(f"/api/v1/creators/{made['creator_id']}/claim-code", headers=ADMIN)).json()

    # The first code is hours from expiring: only the reissue can have voided it.
    stale = await ChatDriver(clocked, user_id="first").ask(f"/claim {made['claim_code']}")
    fresh = await ChatDriver(clocked, user_id="dana").ask(f"/claim {issued['claim_code']}")
    again = await ChatDriver(clocked, user_id="third").ask(f"/claim {issued['claim_code']}")

    assert issued["claim_code"] != made["claim_code"]
    assert "not valid" in stale
    assert "Dana" in fresh and "not valid" not in fresh
    assert "not valid" in again  # one-time, as the first code was


async def test_an_expired_claim_code_is_replaced_by_one_that_works(
    clocked: Coachline, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    made = (await client.post("/api/v1/creators", json={"name": "Dana"}, headers=ADMIN)).json()
    clock.advance(CLAIM_HOURS * 3600 + 1)
    expired = await ChatDriver(clocked, user_id="late").ask(f"/claim {made['claim_code']}")
    issued = (await client.post(f"/api/v1/creators/{made['creator_id']}/claim-code", headers=ADMIN)).json()

    fresh = await ChatDriver(clocked, user_id="dana").ask(f"/claim {issued['claim_code']}")

    assert "not valid" in expired
    assert datetime.fromisoformat(issued["expires_at"]) > clock.now()  # counted from the reissue
    assert "Dana" in fresh and "not valid" not in fresh


async def test_a_rotated_api_key_replaces_the_old_one(client: httpx.AsyncClient) -> None:
    made = (await client.post("/api/v1/creators", json={"name": "Dana"}, headers=ADMIN)).json()
    old = {"Authorization": f"Bearer {made['api_key']}"}
    before = await client.get("/api/v1/creators/knowledge/documents", headers=old)

    rotated = await client.post(f"/api/v1/creators/{made['creator_id']}/api-key", headers=ADMIN)
    new = {"Authorization": f"Bearer {rotated.json()['api_key']}"}

    assert before.status_code == 200
    assert (await client.get("/api/v1/creators/knowledge/documents", headers=old)).status_code == 401
    assert (await client.get("/api/v1/creators/knowledge/documents", headers=new)).status_code == 200


async def test_only_the_admin_issues_secrets_and_only_for_a_real_creator(client: httpx.AsyncClient) -> None:
    made = (await client.post("/api/v1/creators", json={"name": "Dana"}, headers=ADMIN)).json()
    creator_key = {"Authorization": f"Bearer {made['api_key']}"}

    own = await client.post(f"/api/v1/creators/{made['creator_id']}/api-key", headers=creator_key)
    anonymous = await client.post(f"/api/v1/creators/{made['creator_id']}/claim-code")
    missing = await client.post("/api/v1/creators/nobody-00000000/claim-code", headers=ADMIN)

    assert own.status_code == 403
    assert anonymous.status_code == 401
    assert missing.status_code == 404
    assert "nobody-00000000" in missing.text
