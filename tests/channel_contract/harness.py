"""What the contract suite needs from a channel's test set-up: its adapter running against a fake of its
platform, a way to play the platform (deliver a webhook, refuse the next send), and what was sent.

A new channel joins the suite with one `ChannelHarness` subclass registered under its name with
`@harness("name")` (see `harnesses.py`): every case in `test_channel_contract.py` then runs on it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from enum import StrEnum

import httpx
from fastapi import FastAPI

from bot.foundation.messages import ConversationReference, IncomingMessage
from channels.base import Accepted, Channel


class Refusal(StrEnum):
    """How the platform may refuse the next send."""

    RATE_LIMITED = "rate_limited"  # slow down (with a Retry-After)
    RECIPIENT_GONE = "recipient_gone"  # they blocked the bot, opted out, or left
    REJECTED = "rejected"  # this message can never go (a bad address)


class RecordingInbox:
    """The core's inbox as a channel sees it: persists (here, records) and dedupes on message id."""

    def __init__(self) -> None:
        self.messages: list[IncomingMessage] = []
        self.deliveries = 0
        self.fail_next = False

    async def accept(self, message: IncomingMessage) -> Accepted:
        """The sink handed to `Channel.start`."""
        self.deliveries += 1
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the database is down")
        known = [m.message_id for m in self.messages if m.channel == message.channel]
        if message.message_id in known:
            return Accepted(inbox_id=known.index(message.message_id) + 1, duplicate=True)
        self.messages.append(message)
        return Accepted(inbox_id=len(self.messages), duplicate=False)


class ChannelHarness(ABC):
    """A started channel on a fake platform, and the platform's side of it."""

    name: str
    # What a person types to opt out of everything, where the platform works that way (SMS STOP);
    # None where opting out is blocking the bot, which shows as a refused send.
    opt_out_text: str | None = None

    def __init__(self, channel: Channel, inbox: RecordingInbox) -> None:
        self.channel = channel
        self.inbox = inbox
        app = FastAPI()
        router = channel.router()
        if router is not None:
            app.include_router(router)
        # A failing sink must come back as an error status (the platform retries), not raise here.
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://testserver"
        )

    @abstractmethod
    def address(self) -> ConversationReference:
        """A conversation the fake platform accepts messages for."""

    @abstractmethod
    async def deliver(self, message_id: str, text: str, *, signed: bool = True) -> httpx.Response:
        """POST the platform's webhook for a person's message (`signed=False`: a forgery)."""

    @abstractmethod
    def refuse_next_send(self, refusal: Refusal) -> None:
        """Make the fake platform refuse the next message this way."""

    @abstractmethod
    def sent(self) -> list[str]:
        """The text of every message the fake platform accepted, oldest first."""


HarnessFactory = Callable[[], AbstractAsyncContextManager[ChannelHarness]]
HARNESSES: dict[str, HarnessFactory] = {}


def harness(name: str) -> Callable[[HarnessFactory], HarnessFactory]:
    """Register the harness of channel `name` (decorates an async context manager factory)."""

    def register(factory: HarnessFactory) -> HarnessFactory:
        HARNESSES[name] = factory
        return factory

    return register


@asynccontextmanager
async def started(harness_: ChannelHarness) -> AsyncIterator[ChannelHarness]:
    """Start the harness's channel with its inbox as the sink; stop it and close the client after."""
    await harness_.channel.start(harness_.inbox.accept)
    try:
        yield harness_
    finally:
        await harness_.channel.stop()
        await harness_.http.aclose()
