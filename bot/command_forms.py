"""How a command is typed on each channel, so that help and prompts show what works there.

Each channel declares its own syntax (`channels.plugin.CommandSyntax`: a prefix such as `/`, or a
slash command, or a character easy to type on a phone, and what its help adds); this module only
asks the channel registry for it by name.
"""

from __future__ import annotations

from channels.registry import command_syntax


def command_form(command: str, channel: str) -> str:
    """`command` ("join NAME", without its slash) as it is typed on `channel`."""
    return command_syntax(channel).form(command)


def help_footer(channel: str) -> str:
    """What a channel's help adds (the compliance keywords where carriers require them)."""
    return command_syntax(channel).help_footer


def opted_in_text(channel: str) -> str:
    """The confirmation of /optin on `channel` (naming its opt-out keyword or command)."""
    return command_syntax(channel).opted_in
