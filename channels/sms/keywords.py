"""The SMS compliance keywords (STOP, START, HELP) as the chat commands that act on them.

Twilio matches a keyword when it is the whole message, ignoring case and surrounding spaces; so do
we, so that our record of who opted out agrees with Twilio's own (which refuses sends with error
21610). REVOKE and OPTOUT are opt-out words Twilio added for the FCC's 2025 consent rules.

Every other chat command is typed with a prefix, `#stats` or `#join Sleep`, since a slash is awkward
on phone keyboards; the keywords above are never prefixed (`#stop` is the command /stop, which ends
programs, while STOP opts out of everything).
"""

from __future__ import annotations

import re

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})
HELP = frozenset({"HELP", "INFO"})

OPT_OUT_COMMAND = "/optout"
OPT_IN_COMMAND = "/optin"
HELP_COMMAND = "/help"
COMMAND_PREFIX = "#"

_PREFIXED = re.compile(
    rf"^{re.escape(COMMAND_PREFIX)}(?P<name>[A-Za-z][A-Za-z0-9_]*)(?P<rest>\s.*)?$", re.DOTALL
)


def keyword_command(body: str) -> str | None:
    """The command an SMS stands for: a keyword ("/optout", "/optin", "/help"), or a prefixed
    command ("#join Sleep" → "/join Sleep", any case); None for chat."""
    text = body.strip()
    word = text.upper()
    if word in OPT_OUT:
        return OPT_OUT_COMMAND
    if word in OPT_IN:
        return OPT_IN_COMMAND
    if word in HELP:
        return HELP_COMMAND
    prefixed = _PREFIXED.match(text)
    if prefixed is not None:
        return f"/{prefixed['name'].lower()}{prefixed['rest'] or ''}"
    return None
