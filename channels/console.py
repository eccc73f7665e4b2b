"""The console channel: `python run.py chat` in a terminal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from bot.foundation.messages import Attachment, OutgoingMessage
from channels.base import AttachmentError, Channel, ChannelStatus, MessageSink, SendResult
from channels.plugin import Capabilities, ChannelPlugin

# The channel's name: the face (`bot/terminal.py`) imports it rather than spelling it.
NAME = "console"
# Only the operator at this machine types into its terminal.
CAPABILITIES = Capabilities(speaks_first=False, operator=True)


class ConsoleChannel(Channel):
    """Prints replies through a writer (the terminal UI); input comes from the chat loop."""

    name = NAME
    capabilities = CAPABILITIES

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

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """Read a local file named in `/upload PATH` (the console is the operator's own machine)."""
        if not attachment.url:
            raise AttachmentError("no file given")
        return await asyncio.to_thread(_read_local_file, attachment.url, max_bytes)

    def status(self) -> ChannelStatus:
        """On while the terminal chat runs."""
        return ChannelStatus("real", "terminal chat")


def _read_local_file(name: str, max_bytes: int) -> bytes:
    path = Path(name).expanduser()
    if not path.is_file():
        raise AttachmentError(f"{path} is not a file")
    size = path.stat().st_size
    if size > max_bytes:
        raise AttachmentError(
            f"{path.name} is {size / 1024 / 1024:.1f} MB; the upload limit is {max_bytes / 1024 / 1024:g} MB"
        )
    return path.read_bytes()


def _build(settings: object, own: object) -> None:
    # Never switched on by settings: `run.py chat` makes the channel with its terminal writer.
    return None


# Registered so that `COACH_ADMINS=console:you` and the command syntax know the channel.
plugin = ChannelPlugin(name=NAME, build=_build, capabilities=CAPABILITIES)
