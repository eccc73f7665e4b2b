"""A channel that records what it is asked to send and fails on cue: the outbox's test double."""

from __future__ import annotations

from bot.foundation.messages import OutgoingMessage
from channels.base import Channel, ChannelStatus, MessageSink, SendError, SendResult
from channels.plugin import Capabilities
from channels.registry import plugins


class RecordingChannel(Channel):
    """Collects sent messages; raises the queued errors first, one per send."""

    def __init__(self, name: str = "test") -> None:
        self.name = name
        # What the real channel of that name can show (the core reads it), else the defaults.
        plugin = plugins().get(name)
        self.capabilities = plugin.capabilities if plugin is not None else Capabilities()
        self.sent: list[OutgoingMessage] = []
        self.failures: list[SendError] = []
        self.attempts = 0
        self.sink: MessageSink | None = None

    async def start(self, sink: MessageSink) -> None:
        """Keep the sink so tests can play the platform delivering messages."""
        self.sink = sink

    async def stop(self) -> None:
        """Nothing to stop."""

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Record the message, or fail with the next queued error."""
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return SendResult(platform_message_id=str(len(self.sent)))

    def status(self) -> ChannelStatus:
        """Always fine."""
        return ChannelStatus("real", "recording test channel")
