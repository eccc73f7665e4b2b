"""What a channel declares about itself: its settings, capabilities, command syntax and factory.

A channel package exposes one `ChannelPlugin` object, named in the `coachline.channels` entry point
group. The object is cheap to import (no platform library loads until `build` runs), so the core can
ask any channel how commands are typed on it, or which settings it still lacks, without starting it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.settings import SettingsError, describe_errors

if TYPE_CHECKING:
    from channels.base import Channel
    from config import Settings


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform can show, read by the core to decide what to ask of a channel.

    - `buttons`: it renders `OutgoingMessage.buttons` as tappable choices (else as numbered text).
    - `command_menu`: it lists commands in a platform menu: the core calls `set_command_menu`.
    - `typing`: it shows "typing…": the core calls `indicate_typing` when it starts answering.
    - `speaks_first`: it reaches people by itself, so broadcasts and program steps may go to it
      (the local web page and terminal only answer their own requests).
    - `operator`: whoever writes on it is the operator at this machine (the terminal): the core gives
      them the admin role and never holds them to the per-sender rate.
    - `max_message_chars`: the longest single platform message; longer replies go in parts.
    """

    buttons: bool = False
    command_menu: bool = False
    typing: bool = False
    speaks_first: bool = True
    operator: bool = False
    max_message_chars: int | None = None


@dataclass(frozen=True, slots=True)
class CommandSyntax:
    """How a person types a command on the channel, and what its help adds.

    `prefix` comes before the command's name ("/", Slack's "/coach ", SMS's "#"); `help_footer` ends
    /help (SMS: the carriers' keywords); `opted_in` confirms /optin (SMS's names the keywords).
    """

    prefix: str = "/"
    help_footer: str = ""
    opted_in: str = "You're subscribed again. Send /optout to stop all messages from me."

    def form(self, command: str) -> str:
        """`command` ("join NAME", with or without its slash) as it is typed on this channel."""
        return f"{self.prefix}{command.lstrip('/')}"


class ChannelSettings(BaseSettings):
    """A channel's own settings, read from the environment and `.env` like the core's.

    Subclasses name their variables (an `env_prefix`, or `validation_alias` for names outside it) and
    say in `missing` which of them are still needed for the channel to run.
    """

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # Groups of field names, one of each group needed for the channel to run (see `missing`).
    required: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @classmethod
    def of(cls, **values: Any) -> Self:
        """Settings from these values and the environment, ignoring any `.env` (for tests and embedding)."""
        return cls(_env_file=None, **values)  # type: ignore[call-arg]

    @classmethod
    def load(cls, env_file: str | None = ".env") -> Self:
        """Read and validate; raise `SettingsError` naming every bad variable."""
        try:
            return cls(_env_file=env_file)  # type: ignore[call-arg]
        except ValidationError as exc:
            raise SettingsError(describe_errors(exc, cls.env_names())) from None

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Field name -> the environment variable that sets it."""
        prefix = str(cls.model_config.get("env_prefix", ""))
        names: dict[str, str] = {}
        for name, info in cls.model_fields.items():
            alias = info.validation_alias
            names[name] = alias if isinstance(alias, str) else f"{prefix}{name}".upper()
        return names

    def missing(self) -> list[str]:
        """The variables the channel still needs (alternatives written "A or B"); empty when set up.

        By default each group of `required` names (field names) needs one of its members set.
        """
        env = self.env_names()
        return [
            " or ".join(env[name] for name in group)
            for group in self.required
            if not any(getattr(self, name) for name in group)
        ]


class NoSettings(ChannelSettings):
    """For channels that need no configuration (the web page, the terminal)."""


# Builds the channel from the core settings and its own; None leaves it switched off.
ChannelFactory = Callable[["Settings", Any], "Channel | None"]


@dataclass(frozen=True, slots=True)
class ChannelPlugin:
    """Everything the core knows about a channel before (or without) starting it.

    `name` is the channel's name everywhere (`COACH_ADMINS=name:id`, enrolment, stored addresses);
    `build(core_settings, own_settings)` makes the adapter, importing its platform library only then.
    """

    name: str
    build: ChannelFactory
    settings: type[ChannelSettings] = NoSettings
    capabilities: Capabilities = field(default_factory=Capabilities)
    syntax: CommandSyntax = field(default_factory=CommandSyntax)
