"""Socket Mode (`SLACK_APP_TOKEN`): events and commands over Slack's WebSocket, acknowledged on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.runtime import Coachline
from channels.slack.adapter import SlackChannel
from channels.slack.settings import SlackSettings
from config import Settings
from tests.fakes.slack_server import FakeSlack, coach_command, dm_event, run_fake_slack
from tests.support.gated import GatedGenerator
from tests.support.waiting import until


def _ack(slack: FakeSlack, envelope_id: str) -> dict[str, Any] | None:
    return next((ack for ack in slack.socket_acks if ack.get("envelope_id") == envelope_id), None)


async def test_socket_mode_receives_acknowledges_and_answers(
    make_service: Callable[..., Coachline], make_settings: Callable[..., Settings]
) -> None:
    async with run_fake_slack(socket_mode=True) as slack:
        channel = SlackChannel(
            SlackSettings.of(bot_token=slack.bot_token, app_token=slack.app_token, api_url=slack.api_url)
        )
        model = GatedGenerator()  # answers only once released, after the acknowledgement was seen
        service = make_service(channels={"slack": channel}, generator=model)
        await service.start()
        try:
            await until(lambda: channel.status().state == "real", "the socket to connect")
            slack.socket_outbox.put_nowait(
                {
                    "envelope_id": "env-1",
                    "type": "events_api",
                    "accepts_response_payload": False,
                    "retry_attempt": 0,
                    "retry_reason": "",
                    "payload": dm_event("hello over the socket"),
                }
            )
            slack.socket_outbox.put_nowait(
                {
                    "envelope_id": "env-2",
                    "type": "slash_commands",
                    "accepts_response_payload": True,
                    "payload": coach_command("help", trigger="9.9.z"),
                }
            )
            await until(lambda: _ack(slack, "env-1") is not None, "the event's acknowledgement")
            # The model is held: the acknowledgement did not wait for it.
            answered_before_ack = any(post["text"].startswith("echo:") for post in slack.posts)
            model.release()
            await until(lambda: len(slack.posts) == 2, "both answers")
            event_ack, command_ack = _ack(slack, "env-1"), _ack(slack, "env-2")
        finally:
            await service.stop()

    assert channel.router() is None  # no signing secret: no unsigned HTTP endpoint exists
    assert event_ack == {"envelope_id": "env-1"}
    assert command_ack == {
        "envelope_id": "env-2",
        "payload": {"text": "On it…", "response_type": "ephemeral"},
    }
    assert not answered_before_ack
    texts = {post["channel"]: post["text"] for post in slack.posts}
    assert texts["U111"] == "echo: hello over the socket"
    assert texts["C111"].startswith("Here is what I can do:")
    assert [call.authorization for call in slack.calls_to("apps.connections.open")] == [
        f"Bearer {slack.app_token}"
    ]
