"""A service with all five channels, for running one chat-command script on every channel.

`PlatformChat` types each command the way its channel wants it (`#join Sleep` by SMS, `/coach join
Sleep` on Slack, `/join Sleep` elsewhere) and hands it through that channel's own translation (the
SMS keyword mapping, the Slack slash-command parser), so a script also proves the per-channel forms.
Every channel records what it is asked to send and serves files from `files` (for /upload).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.command_forms import command_form
from bot.commands import parse_command
from bot.foundation.messages import Attachment
from bot.models import AuditEntry
from bot.runtime import Coachline
from channels.base import AttachmentError
from channels.slack import SLASH_COMMAND as SLACK_SLASH_COMMAND
from channels.slack.events import from_command
from channels.sms.keywords import keyword_command
from channels.twilio.keywords import compliance_command
from programs.api_models import ProgramIn
from programs.importer import import_program
from programs.models import Program
from tests.support.channels import RecordingChannel
from tests.support.chat import ChatDriver
from tests.support.waiting import until

CHANNELS = ("web", "console", "telegram", "slack", "sms", "whatsapp")
# Channels where a person can be a plain user: everyone in the terminal is the operator (an admin).
USER_CHANNELS = ("web", "telegram", "slack", "sms", "whatsapp")


def account_id(channel: str, who: str) -> str:
    """A plausible account id for a person on a channel (a phone number by SMS, a member id on Slack)."""
    number = sum(ord(char) for char in who) % 10_000
    return {
        "telegram": str(420_000 + number),
        "slack": f"U{who.upper()}",
        "sms": f"+1555{number:07d}",
        "whatsapp": f"+3161{number:07d}",
    }.get(channel, who)


class FileChannel(RecordingChannel):
    """A recording channel that also serves files people "sent" (by their platform file id)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.files: dict[str, bytes] = {}
        self.menu: list[tuple[str, str]] | None = None

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """The bytes of a file put in `files`."""
        data = self.files.get(attachment.platform_file_id or "")
        if data is None:
            raise AttachmentError("no such file")
        return data

    def set_command_menu(self, commands: Sequence[tuple[str, str]]) -> None:
        """Keep the menu the service publishes (as Telegram's setMyCommands would)."""
        self.menu = list(commands)


def as_delivered(channel: str, text: str, user_id: str) -> str:
    """The text the core receives when a person types the command `text` on `channel`."""
    parsed = parse_command(text)
    if parsed is None:
        return text
    typed = command_form(f"{parsed.name} {parsed.args}".strip(), channel)
    if channel == "sms":
        return keyword_command(typed) or typed
    if channel == "whatsapp":
        return compliance_command(typed) or typed
    if channel == "slack":
        assert typed.startswith(SLACK_SLASH_COMMAND + " ")
        body = {
            "command": SLACK_SLASH_COMMAND,
            "text": typed.removeprefix(SLACK_SLASH_COMMAND + " "),
            "user_id": user_id,
            "channel_id": "D0DIRECT",
            "trigger_id": uuid.uuid4().hex,
        }
        return from_command(body, datetime.now(UTC)).text
    return typed


class PlatformChat(ChatDriver):
    """A person on one channel who types commands in that channel's form."""

    async def send(
        self, text: str, *, message_id: str | None = None, attachments: tuple[Attachment, ...] = ()
    ) -> int:
        """Send `text`, typed as the channel wants it and translated as the channel does."""
        delivered = as_delivered(self.channel, text, self.user_id)
        if parse_command(text) is not None:  # typed in the channel's form, it arrives as the command
            assert delivered == text.strip(), (text, delivered)
        return await super().send(delivered, message_id=message_id, attachments=attachments)

    async def upload(self, file_name: str, data: bytes) -> int:
        """Send a file with `/upload` as its caption."""
        channel = self.service.channels[self.channel]
        assert isinstance(channel, FileChannel)
        file_id = uuid.uuid4().hex
        channel.files[file_id] = data
        return await self.send(
            "/upload", attachments=(Attachment("document", file_name, platform_file_id=file_id),)
        )


@dataclass
class Rig:
    """The running service and its channels."""

    service: Coachline
    channels: dict[str, FileChannel]

    def chat(self, channel: str, who: str, **kwargs: Any) -> PlatformChat:
        """`who` (a first name) writing on `channel`."""
        return PlatformChat(
            self.service, channel=channel, user_id=account_id(channel, who), user_name=who.title(), **kwargs
        )

    async def wait_for_sent(self, channel: str, contains: str, *, to: str | None = None) -> None:
        """Wait until `channel` sent a message containing `contains` (to the chat `to`, if given)."""

        def sent() -> bool:
            return any(
                contains in message.text and (to is None or message.conversation.chat_id == to)
                for message in self.channels[channel].sent
            )

        await until(sent, f"{channel} to send {contains!r}")

    async def audit(self) -> list[AuditEntry]:
        """Every audit entry, oldest first."""
        async with self.service.sessions() as session:
            return list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))

    async def add_program(
        self, title: str, *, creator_id: str | None = None, status: str = "active"
    ) -> Program:
        """A two-step program: a welcome at enrolment, then a check-in a day later."""
        creator = creator_id or self.default_creator_id
        body = ProgramIn.model_validate(
            {
                "title": title,
                "description": "better nights in a week",
                "status": status,
                "steps": [
                    {
                        "step_name": "welcome",
                        "step_type": "MESSAGE",
                        "trigger_config": {"trigger_type": "EVENT", "event": "enrollment"},
                        "action_config": {"message_template": f"Welcome to {title}, {{user_name}}!"},
                    },
                    {
                        "step_name": "check_in",
                        "step_type": "MESSAGE",
                        "trigger_config": {
                            "trigger_type": "TIME_BASED",
                            "delay_seconds": 86400,
                            "after": "previous_step",
                        },
                        "action_config": {"message_template": "How did you sleep?"},
                    },
                ],
            }
        )
        async with self.service.sessions.begin() as session:
            return await import_program(session, creator, body, self.service.now())

    @property
    def default_creator_id(self) -> str:
        """The creator everyone talks to unless moved."""
        assert self.service.default_creator is not None
        return self.service.default_creator.id


@asynccontextmanager
async def running_rig(make_service: Callable[..., Coachline], **settings: Any) -> AsyncIterator[Rig]:
    """Start a service with the five channels (all recording), stop it afterwards."""
    channels = {name: FileChannel(name) for name in CHANNELS}
    service = make_service(channels=dict(channels), **settings)
    await service.start()
    try:
        yield Rig(service, channels)
    finally:
        await service.stop()
