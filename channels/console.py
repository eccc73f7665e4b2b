"""The console channel: `python run.py chat` in a terminal."""

from __future__ import annotations

from collections.abc import Callable

from channels.base import Channel, ChannelStatus, MessageSink, SendResult
from channels.messages import OutgoingMessage


class ConsoleChannel(Channel):
    """Prints replies through a writer (the terminal UI); input comes from the chat loop."""

    name = "console"

    def __init__(self, write: Callable[[OutgoingMessage], None]) -> None:
        self._write = write

    async def start(self, sink: MessageSink) -> None:
        """The chat loop feeds messages itself."""

    async def stop(self) -> None:
        """Nothing to release."""

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Show the reply."""
        self._write(message)
        return SendResult()

    def status(self) -> ChannelStatus:
        """On while the terminal chat runs."""
        return ChannelStatus("real", "terminal chat")
