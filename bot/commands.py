"""The command registry: name, who may use it, help text and handler, in one place for every channel."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.claim_codes import ClaimPolicy
from bot.command_forms import command_form, help_footer
from bot.foundation.messages import Attachment, Button, IncomingMessage, Source
from bot.foundation.tables import Conversation
from bot.identity import Sender
from bot.roles import ADMINS, CREATORS, Role
from coaching.knowledge import KnowledgeBase

if TYPE_CHECKING:  # the services below import the core; commands only need their types
    from coaching.personality.service import PersonalityService
    from coaching.responder import Responder
    from programs.broadcasts import Broadcaster
    from programs.runner import ProgramRunner


@dataclass(frozen=True, slots=True)
class Reply:
    """One message the bot sends back."""

    text: str
    sources: tuple[Source, ...] = ()
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class CommandServices:
    """The parts of the service commands may use.

    Every one of them but `fetch_attachment` opens its own sessions: a command that calls one is
    registered `slow` (see `CommandContext`).
    """

    knowledge: KnowledgeBase
    # Download an attachment with the credentials of the channel it came from.
    fetch_attachment: Callable[[str, Attachment], Awaitable[bytes]]
    sessions: async_sessionmaker[AsyncSession]
    personality: PersonalityService
    responder: Responder
    programs: ProgramRunner
    broadcasts: Broadcaster
    # Every component's state, as `GET /health/integration` reports it.
    health: Callable[[], Awaitable[dict[str, dict[str, Any]]]]
    # The channels that reach people by themselves (broadcasts go there; not web or console).
    messaging_channels: Callable[[], list[str]]
    public_url: str = ""
    claims: ClaimPolicy = field(default_factory=ClaimPolicy)  # claim codes' lifetime and attempt limit


class CommandError(Exception):
    """A command that cannot do what was asked; `reply` tells the person why.

    Raised by a handler, it becomes the answer, what the handler changed is rolled back, and no
    audit entry is written: the action did not happen.
    """

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(slots=True)
class AuditNote:
    """What a handler adds to its audit entry: the thing acted on and details.

    Creator and admin commands are audited by the dispatcher whenever they succeed; `wanted` asks
    for an entry for a command open to everyone (claiming a creator role). `args` is what the
    person typed, kept in the entry unless a handler clears it (a claim code is a secret).
    """

    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    wanted: bool = False
    args: str | None = None
    creator_id: str | None = None  # the creator acted for, when not the sender's (a claim)


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
    audit: AuditNote = field(default_factory=AuditNote)

    def __post_init__(self) -> None:
        self.audit.args = self.args

    @property
    def db(self) -> AsyncSession:
        """The answering transaction (not available to slow commands)."""
        if self.session is None:
            raise RuntimeError("slow commands run outside the answering transaction")
        return self.session

    @property
    def channel(self) -> str:
        """The channel the command came on."""
        return self.message.channel

    def form(self, command: str) -> str:
        """How the person types `command` ("broadcast confirm") on their channel: `#broadcast confirm`
        by SMS, `/coach broadcast confirm` on Slack, `/broadcast confirm` elsewhere."""
        return command_form(command, self.message.channel)


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

    def forms(self, channel: str, roles: Iterable[Role] = (Role.USER,)) -> list[tuple[str, str]]:
        """(how it is typed on `channel`, what it does) for each command these roles may run."""
        return [
            (command_form(f"{command.name} {command.usage}".strip(), channel), command.help)
            for command in self.visible_to(roles)
        ]

    def menu(self, roles: Iterable[Role] = (Role.USER,)) -> list[tuple[str, str]]:
        """A platform command menu (Telegram's setMyCommands): (name, description) per command."""
        return [(command.name, command.help) for command in self.visible_to(roles)]

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands.values())


def audience(command: Command) -> str:
    """Who a command is for, in words: "everyone", "creators" or "admins"."""
    if Role.USER in command.roles:
        return "everyone"
    if command.roles <= ADMINS:
        return "admins"
    if command.roles <= CREATORS:
        return "creators"
    return "other users"


def refusal(command: Command, channel: str = "") -> str:
    """Why someone may not run a command (the one place where a refusal is worded)."""
    return f"Sorry, {command_form(command.name, channel)} is only for {audience(command)}."


_SECTIONS = {"everyone": "", "creators": "For creators:", "admins": "For admins:"}


def help_text(registry: CommandRegistry, roles: Iterable[Role], channel: str = "") -> str:
    """The commands this person may use, one a line, as they are typed on `channel`; a creator's or
    an admin's extra commands come under their own heading."""
    commands = registry.visible_to(roles)
    sections: dict[str, list[str]] = {}
    for command in commands:
        typed = command_form(f"{command.name} {command.usage}".strip(), channel)
        sections.setdefault(audience(command), []).append(f"{typed} — {command.help}")
    lines = ["Here is what I can do:"]
    headed = len(sections) > 1  # a user's help needs no headings
    for section, heading in _SECTIONS.items():
        if section in sections:
            lines += ([heading] if heading and headed else []) + sections.pop(section)
    for rest in sections.values():
        lines.extend(rest)
    lines.append("Or just write to me and I'll answer.")
    footer = help_footer(channel)
    if footer:
        lines.append(footer)
    return "\n".join(lines)
