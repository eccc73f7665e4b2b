"""The terminal chat's side of the face (`run.py chat`): a service with the console channel, and each
typed line as the message that channel receives.

`run.py` keeps only the terminal itself (reading lines, printing replies); what a line becomes — its
channel, conversation and the local files `/upload PATH...` attaches — is decided here, so that the
entry point names no channel and imports no adapter.
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Callable
from pathlib import Path

from bot.composition import build_service
from bot.foundation.messages import Attachment, ConversationReference, IncomingMessage, OutgoingMessage
from bot.foundation.tables import Creator
from bot.runtime import Coachline
from channels.console import NAME as CONSOLE
from channels.console import ConsoleChannel
from config import Settings

# How the terminal shows a reply: its text, and its sources as "document (location)" lines.
ReplyWriter = Callable[[str, list[str]], None]


def terminal_service(settings: Settings, show: ReplyWriter) -> Coachline:
    """The service with the console channel alone, its replies shown through `show` (not started)."""

    def write(message: OutgoingMessage) -> None:
        show(message.text, [f"{source.document} ({source.location})" for source in message.sources])

    return build_service(settings, channels={CONSOLE: ConsoleChannel(write)})


async def chosen_creator(service: Coachline, creator_id: str | None) -> Creator | None:
    """The creator named (None when there is no such creator), else the default creator."""
    if not creator_id:
        return service.default_creator
    async with service.sessions() as session:
        return await session.get(Creator, creator_id)


def typed_message(service: Coachline, user_id: str, creator_id: str, text: str) -> IncomingMessage:
    """The console channel's message for a line typed by `user_id` to `creator_id`'s twin."""
    return IncomingMessage(
        channel=CONSOLE,
        user_id=user_id,
        conversation=ConversationReference(CONSOLE, user_id, creator_id=creator_id),
        message_id=f"{CONSOLE}:{uuid.uuid4().hex}",
        text=text,
        received_at=service.now(),
        attachments=typed_attachments(text),
    )


def typed_attachments(text: str) -> tuple[Attachment, ...]:
    """`/upload PATH...` in the terminal attaches those local files, as a file sent in a chat would."""
    command, _, rest = text.strip().partition(" ")
    if command != "/upload" or not rest.strip():
        return ()
    return tuple(
        Attachment(kind="document", file_name=Path(path).name, url=path) for path in shlex.split(rest)
    )
