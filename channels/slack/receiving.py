"""The Bolt app that receives Slack's requests: verify, parse, persist, acknowledge — nothing slower.

`process_before_response=True` makes Bolt run each listener before it answers Slack, so the 200
goes out only once the message is in the inbox: a crash between the two makes Slack retry instead
of losing the message. The listener does nothing but persist (milliseconds); the model's answer is
produced later by the core and posted with `chat.postMessage`. A listener that fails (the database
is down) answers 500, and Slack delivers the event again.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from bot.foundation.messages import IncomingMessage
from channels.slack.events import BotIdentity, from_action, from_command, from_event
from channels.slack.quiet_logs import bolt_base_logger

# Hands one parsed message to the core (persisting it); `context` tells the workspace it came from.
Deliver = Callable[[IncomingMessage, AsyncBoltContext], Awaitable[None]]
Authorize = Callable[[str | None, str | None], Awaitable[AuthorizeResult | None]]

_ANY = re.compile(r".*")


def build_bolt_app(
    *,
    signing_secret: str,
    client: AsyncWebClient,
    authorize: Authorize,
    deliver: Deliver,
    now: Callable[[], datetime],
) -> AsyncApp:
    """The Bolt app with Coachline's listeners: every event, any slash command, button clicks."""

    # Bolt passes arguments by parameter name, so this must be a plain function with these names.
    async def authorize_request(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
        return await authorize(enterprise_id, team_id)

    app = AsyncApp(
        name="coachline-slack",
        signing_secret=signing_secret,
        # Socket Mode requests are not signed; over HTTP an empty secret is refused by the channel.
        request_verification_enabled=bool(signing_secret),
        client=client,
        # Bolt's annotation omits it, but a None result is how it learns a workspace is unknown.
        authorize=authorize_request,  # type: ignore[arg-type]
        process_before_response=True,
        logger=bolt_base_logger(),  # keeps request bodies (forged ones included) out of the logs
    )

    async def on_event(body: dict[str, Any], context: AsyncBoltContext) -> None:
        # Every event lands here, so none is answered 404 (which Slack would retry); events that are
        # not messages for the bot are acknowledged and dropped. Bolt acknowledges on return.
        message = from_event(body, BotIdentity(context.bot_user_id, context.bot_id), now())
        if message is not None:
            await deliver(message, context)

    async def on_command(body: dict[str, Any], ack: AsyncAck, context: AsyncBoltContext) -> None:
        message = from_command(body, now())
        await deliver(message, context)
        await ack(response_type="ephemeral", text=_command_receipt(body, message))

    async def on_action(body: dict[str, Any], ack: AsyncAck, context: AsyncBoltContext) -> None:
        for message in from_action(body, now()):
            await deliver(message, context)
        await ack()

    app.event(_ANY)(on_event)
    app.command(_ANY)(on_command)
    app.action(_ANY)(on_action)
    return app


def _command_receipt(body: Mapping[str, Any], message: IncomingMessage) -> str:
    """The ephemeral line shown at once for a slash command; the answer follows as a message."""
    if message.conversation.chat_id == message.user_id:
        return "On it — I'll answer in our direct messages."
    return "On it…"
