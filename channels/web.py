"""The local web channel: the chat page at `/` and `POST /api/v1/chat`.

Replies are collected, not pushed: the HTTP request that asked waits for them, and the page reads the
transcript. So `send` only has to accept the message, and nothing is sent to it unasked.
"""

from __future__ import annotations

from typing import Any

from bot.foundation.messages import OutgoingMessage
from channels.base import Channel, ChannelStatus, MessageSink, SendResult
from channels.plugin import Capabilities, ChannelPlugin
from config import Settings

# The channel's name: the core imports it rather than spelling it (the chat API and page speak as it).
NAME = "web"
CAPABILITIES = Capabilities(buttons=True, speaks_first=False)


class WebChannel(Channel):
    """The browser page and the chat API."""

    name = NAME
    capabilities = CAPABILITIES

    async def start(self, sink: MessageSink) -> None:
        """Nothing to start: requests arrive through the app's routes."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Accept the message; the waiting request or the page's transcript delivers it."""
        return SendResult()

    def status(self) -> ChannelStatus:
        """Always on when the HTTP server runs."""
        return ChannelStatus("real", "web chat page at / and POST /api/v1/chat")


def _build(settings: Settings, own: Any) -> Channel:
    return WebChannel()


plugin = ChannelPlugin(name=NAME, build=_build, capabilities=CAPABILITIES)
