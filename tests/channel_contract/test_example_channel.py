"""The recipe's example channel in a running service, with no change to the core: its admin is an
admin, it chats, REST enrolment accepts it and program steps reach it, help shows its command syntax."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from bot.app import create_app
from bot.runtime import Coachline
from channels import registry
from channels.plugin import ChannelPlugin
from config import Settings
from tests.channel_contract import example_channel as hookchat
from tests.conftest import ADMIN_KEY
from tests.support.asgi_server import serve_asgi
from tests.support.settle import settled

SECRET = "hookchat-secret"


@pytest.fixture
def plugin() -> Iterator[ChannelPlugin]:
    """Hookchat, registered as an installed entry point would be."""
    registry.register(hookchat.plugin)
    yield hookchat.plugin
    registry.unregister(hookchat.plugin.name)


async def test_a_channel_from_the_recipe_works_in_the_service(
    plugin: ChannelPlugin, make_service: Callable[..., Coachline], make_settings: Callable[..., Settings]
) -> None:
    async with hookchat.run_fake_hookchat() as (fake, url):
        own = hookchat.HookchatSettings.of(token=fake.token, secret=SECRET, api_url=url)
        core = {"admins": ["hookchat:boss"]}  # validated against the registry: the plugin counts
        channels = registry.build_channels(make_settings(**core), channel_settings={"hookchat": own})
        service = make_service(channels=channels, **core)
        async with serve_asgi(create_app(service)) as app_url, httpx.AsyncClient(base_url=app_url) as http:

            async def write(sender: str, message_id: str, text: str) -> None:
                body = json.dumps({"id": message_id, "from": sender, "text": text}).encode()
                headers = {"X-Hookchat-Signature": hookchat.sign(SECRET, body)}
                assert (
                    await http.post("/webhooks/hookchat", content=body, headers=headers)
                ).status_code == 204
                await settled(service)

            await write("boss", "1", "!help")  # typed in the channel's own syntax...
            await write("boss", "1", "!help")  # ...and a redelivery, answered once
            await write("sam", "2", "!timezone UTC")  # only people who talked to the twin can be enrolled
            admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
            program = await http.post(
                "/api/v1/creators/programs/",
                json={
                    "title": "Walk",
                    "steps": [
                        {
                            "step_name": "go",
                            "step_type": "MESSAGE",
                            "action_config": {"message_template": "Walk 10 minutes."},
                        }
                    ],
                },
                headers=admin,
            )
            enrolled = await http.post(
                f"/api/v1/creators/programs/{program.json()['id']}/enrollments",
                json={"channel": "hookchat", "user_id": "sam"},
                headers=admin,
            )
            await settled(service)

    assert enrolled.status_code in (200, 201), enrolled.text
    *help_parts, _, step = fake.sent  # help comes in 500-character parts, answered once; sam's reply
    help_text = "".join(part["text"] for part in help_parts)
    assert "!stats" in help_text and "For admins:" in help_text  # its admin, its command syntax
    assert help_text.count("Here is what I can do") == 1
    assert step == {"to": "sam", "text": "Walk 10 minutes."}
