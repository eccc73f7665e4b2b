"""The command registry: name, who may use it, help text and handler, in one place for every channel."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.identity import Sender
from bot.models import Conversation
from bot.roles import ADMINS, CREATORS, Role
from channels.messages import Attachment, Button, IncomingMessage, Source
from coaching.knowledge import KnowledgeBase


@dataclass(frozen=True, slots=True)
class Reply:
    """One message the bot sends back."""

    text: str
    sources: tuple[Source, ...] = ()
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class CommandServices:
    """The parts of the service commands may use."""

    knowledge: KnowledgeBase
    # Download an attachment with the credentials of the channel it came from.
    fetch_attachment: Callable[[str, Attachment], Awaitable[bytes]]


@dataclass(slots=True)
class CommandContext:
    """What a command handler gets.

    `session` is the transaction that answers the message: what a handler changes through it commits
    with the reply, exactly once. Such a handler must use only that session (SQLite has one connection:
    opening another session would wait for itself). Commands that call services, which open their own
    sessions, or that take long, are registered `slow` and get `session=None`.
    """

    session: AsyncSession | None
    sender: Sender
    conversation: Conversation
    message: IncomingMessage
    args: str
    now: datetime
    registry: CommandRegistry
    services: CommandServices
    # Slow commands may report progress before their final replies ("Reading notes.pdf…"); each
    # call sends one message at once. A no-op for quick commands, whose replies come at the end.
    progress: Callable[[str], Awaitable[None]] = field(default=lambda text: _ignore_progress(text))

    @property
    def db(self) -> AsyncSession:
        """The answering transaction (not available to slow commands)."""
        if self.session is None:
            raise RuntimeError("slow commands run outside the answering transaction")
        return self.session


async def _ignore_progress(text: str) -> None:
    return None


CommandHandler = Callable[[CommandContext], Awaitable[list[Reply]]]


@dataclass(frozen=True, slots=True)
class Command:
    """A chat command. `roles` are the roles that may run it."""

    name: str
    help: str
    roles: frozenset[Role]
    handler: CommandHandler
    usage: str = ""
    slow: bool = False  # runs outside the answering transaction (long work, other sessions)
    hidden: bool = False  # runnable but left out of /help and command menus (e.g. SMS STOP/START)


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """A message read as a command: `/name args` (with Telegram's `/name@bot` form accepted)."""

    name: str
    args: str


_COMMAND = re.compile(r"^/(?P<name>[A-Za-z][A-Za-z0-9_]{0,31})(?:@\S+)?(?:\s+(?P<args>.*))?$", re.DOTALL)


def parse_command(text: str) -> ParsedCommand | None:
    """The command in a message, or None when it is plain chat."""
    match = _COMMAND.match(text.strip())
    if match is None:
        return None
    return ParsedCommand(match["name"].lower(), (match["args"] or "").strip())


def read_command(message: IncomingMessage) -> ParsedCommand | None:
    """The command a message asks for. A document sent without a command is an upload: on chat
    platforms a file often arrives without its caption, or just after `/upload`."""
    parsed = parse_command(message.text)
    if parsed is None and any(attachment.kind == "document" for attachment in message.attachments):
        return ParsedCommand("upload", message.text.strip())
    return parsed


@dataclass
class CommandRegistry:
    """All commands by name; the help texts and every channel's command forms are generated from it."""

    _commands: dict[str, Command] = field(default_factory=dict)

    def add(self, command: Command) -> None:
        """Register a command; a name can be registered once."""
        if command.name in self._commands:
            raise ValueError(f"command /{command.name} is already registered")
        self._commands[command.name] = command

    def command(
        self,
        name: str,
        help: str,
        roles: frozenset[Role],
        usage: str = "",
        *,
        slow: bool = False,
        hidden: bool = False,
    ) -> Callable[[CommandHandler], CommandHandler]:
        """Decorator form of `add`."""

        def register(handler: CommandHandler) -> CommandHandler:
            self.add(Command(name, help, roles, handler, usage, slow, hidden))
            return handler

        return register

    def get(self, name: str) -> Command | None:
        """The command of that name."""
        return self._commands.get(name)

    def visible_to(self, roles: Iterable[Role]) -> list[Command]:
        """The commands someone with these roles may run, in registration order (hidden ones left out)."""
        held = set(roles)
        return [command for command in self._commands.values() if command.roles & held and not command.hidden]

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands.values())


def refusal(command: Command) -> str:
    """Why someone may not run a command."""
    if command.roles <= ADMINS:
        who = "admins"
    elif command.roles <= CREATORS:
        who = "creators"
    else:
        who = "other users"
    return f"Sorry, /{command.name} is only for {who}."


def help_text(registry: CommandRegistry, roles: Iterable[Role]) -> str:
    """The commands this person may use, one a line."""
    lines = ["Here is what I can do:"]
    for command in registry.visible_to(roles):
        usage = f" {command.usage}" if command.usage else ""
        lines.append(f"/{command.name}{usage} — {command.help}")
    lines.append("Or just write to me and I'll answer.")
    return "\n".join(lines)
