"""What an SMS stands for as a command: a compliance keyword, or a `#`-prefixed command.

Every chat command is typed with a prefix, `#stats` or `#join Sleep`, since a slash is awkward on
phone keyboards; the keywords (STOP, START, HELP: see `channels.twilio.keywords`) are never prefixed
(`#stop` is the command /stop, which ends programs, while STOP opts out of everything).
"""

from __future__ import annotations

import re

from channels.twilio.keywords import compliance_command

COMMAND_PREFIX = "#"

_PREFIXED = re.compile(
    rf"^{re.escape(COMMAND_PREFIX)}(?P<name>[A-Za-z][A-Za-z0-9_]*)(?P<rest>\s.*)?$", re.DOTALL
)


def keyword_command(body: str) -> str | None:
    """The command an SMS stands for: a keyword ("/optout", "/optin", "/help"), or a prefixed
    command ("#join Sleep" → "/join Sleep", any case); None for chat."""
    keyword = compliance_command(body)
    if keyword is not None:
        return keyword
    prefixed = _PREFIXED.match(body.strip())
    if prefixed is not None:
        return f"/{prefixed['name'].lower()}{prefixed['rest'] or ''}"
    return None
