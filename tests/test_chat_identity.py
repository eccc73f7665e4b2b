"""Who a chat-API caller may speak as: every role path tried with every kind of key.

With `COACH_ADMINS=web:boss`, only the admin key's "boss" is an admin. A creator's key reaches only
its own users (`<creator id>:<user id>`), so its "boss" is a different person, never an admin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.foundation.tables import ChannelAccount, User
from bot.runtime import Coachline
from coaching.fake_generator import ScriptedGenerator
from tests.conftest import ADMIN_KEY
from tests.support.asgi_server import serve_asgi

REFUSED = "is only for"


@dataclass
class Deployment:
    """A running server with two creators besides the default one."""

    client: httpx.AsyncClient
    service: Coachline
    keys: dict[str, dict[str, str]]
    creators: dict[str, dict[str, str]]

    async def say(self, key: str, text: str, user_id: str = "boss", **extra: str) -> httpx.Response:
        return await self.client.post(
            "/api/v1/chat", json={"user_id": user_id, "text": text, **extra}, headers=self.keys[key]
        )

    async def reply(self, key: str, text: str, user_id: str = "boss") -> str:
        response = await self.say(key, text, user_id)
        assert response.status_code == 200, response.text
        return str(response.json()["reply"])


@pytest.fixture
async def deployment(
    make_service: Callable[..., Coachline], generator: ScriptedGenerator
) -> AsyncIterator[Deployment]:
    service = make_service(generator=generator, admins=["web:boss"])
    async with (
        serve_asgi(create_app(service)) as url,
        httpx.AsyncClient(base_url=url, timeout=15) as client,
    ):
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        creators = {
            name: (await client.post("/api/v1/creators", json={"name": name}, headers=admin)).json()
            for name in ("Ann", "Bo")
        }
        keys = {
            "admin": admin,
            "creator_a": {"Authorization": f"Bearer {creators['Ann']['api_key']}"},
            "creator_b": {"Authorization": f"Bearer {creators['Bo']['api_key']}"},
            "none": {},
            "bad": {"Authorization": "Bearer cr_not-a-key"},
        }
        yield Deployment(client, service, keys, creators)


# (command, role it needs); /grant names mallory, whom the admin key's callers have met.
COMMANDS = [
    ("/help", "user"),
    ("/ask what is a habit?", "creator"),
    ("/stats", "admin"),
    ("/grant admin web:mallory", "admin"),
]
# What each key may reach as "boss" (listed in COACH_ADMINS as web:boss).
ALLOWED = {
    "admin": {"user", "creator", "admin"},
    "creator_a": {"user"},
    "creator_b": {"user"},
}


@pytest.mark.parametrize("key", ["admin", "creator_a", "creator_b", "none", "bad"])
@pytest.mark.parametrize(("command", "role"), COMMANDS)
async def test_every_role_path_with_every_key(
    deployment: Deployment, key: str, command: str, role: str
) -> None:
    await deployment.reply("admin", "hello", user_id="mallory")

    response = await deployment.say(key, command)

    if key in ("none", "bad"):
        assert response.status_code == 401
        return
    assert response.status_code == 200, response.text
    reply = response.json()["reply"]
    if role in ALLOWED[key]:
        assert REFUSED not in reply
    else:
        assert REFUSED in reply
    if command.startswith("/grant"):
        made_admin = "now an admin" in reply
        assert made_admin is (key == "admin")


async def test_a_creator_key_cannot_grant_itself_admin_nor_read_stats(deployment: Deployment) -> None:
    """The attack from the report: creator A's key speaking as "boss" with COACH_ADMINS=web:boss."""
    await deployment.reply("admin", "hello", user_id="mallory")

    grant = await deployment.reply("creator_a", "/grant admin web:mallory")
    stats = await deployment.reply("creator_a", "/stats")

    assert REFUSED in grant and REFUSED in stats
    mallory_stats = await deployment.reply("admin", "/stats", user_id="mallory")
    assert REFUSED in mallory_stats  # the refused grant changed nothing


async def test_the_same_user_id_under_three_keys_is_three_people(deployment: Deployment) -> None:
    for key in ("admin", "creator_a", "creator_b"):
        await deployment.reply(key, "hello")

    async with deployment.service.sessions() as session:
        rows = (
            await session.execute(
                select(ChannelAccount.external_id, User.creator_id)
                .join(User, User.id == ChannelAccount.user_id)
                .where(ChannelAccount.channel == "web")
            )
        ).all()
    ann, bo = deployment.creators["Ann"]["creator_id"], deployment.creators["Bo"]["creator_id"]
    default = deployment.service.default_creator
    assert default is not None
    assert sorted(rows) == sorted([("boss", default.id), (f"{ann}:boss", ann), (f"{bo}:boss", bo)])


async def test_an_admin_grant_to_a_creator_scoped_account_does_not_make_it_an_admin(
    deployment: Deployment,
) -> None:
    ann = deployment.creators["Ann"]["creator_id"]
    await deployment.reply("creator_a", "hello")

    granted = await deployment.say("admin", f"/grant admin web:{ann}:boss", creator_id=ann)

    assert "now an admin" in granted.json()["reply"]  # the grant is recorded...
    assert REFUSED in await deployment.reply("creator_a", "/stats")  # ...but a creator key never uses it


async def test_a_claimed_creator_role_serves_only_the_key_of_that_creator(deployment: Deployment) -> None:
    claim_code = deployment.creators["Ann"]["claim_code"]

    claimed = await deployment.reply("creator_a", f"/claim {claim_code}")

    assert "You are now this twin's creator" in claimed
    assert REFUSED not in await deployment.reply("creator_a", "/ask what is a habit?")
    assert REFUSED in await deployment.reply("creator_b", "/ask what is a habit?")
    assert REFUSED in await deployment.reply("creator_a", "/stats")


async def test_a_creator_key_cannot_move_its_user_to_another_creator(deployment: Deployment) -> None:
    bo = deployment.creators["Bo"]["creator_id"]
    await deployment.reply("creator_a", f"/start {bo}")

    reply = await deployment.reply("creator_a", "/start")

    assert "Ann" in reply  # the next message is with Ann's twin again


async def test_message_ids_of_two_creators_callers_never_collide(deployment: Deployment) -> None:
    first = await deployment.say("creator_a", "from Ann's caller", message_id="m-1")
    second = await deployment.say("creator_b", "from Bo's caller", message_id="m-1")

    assert first.json()["reply"] == "echo: from Ann's caller"
    assert second.json()["reply"] == "echo: from Bo's caller"
