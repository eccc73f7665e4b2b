"""The local web channel: the chat page at `/` and `POST /api/v1/chat`.

Replies are collected, not pushed: the HTTP request that asked waits for them, and the page reads the
transcript. So `send` only has to accept the message.
"""

from __future__ import annotations

from channels.base import Channel, ChannelLimits, ChannelStatus, MessageSink, SendResult
from channels.messages import OutgoingMessage
from channels.registry import register_channel
from config import Settings


class WebChannel(Channel):
    """The browser page and the chat API."""

    name = "web"
    limits = ChannelLimits(supports_buttons=True)

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


@register_channel("web")
def _web(settings: Settings) -> Channel:
    return WebChannel()
