"""The SMS compliance keywords (STOP, START, HELP) as the chat commands that act on them.

Twilio matches a keyword when it is the whole message, ignoring case and surrounding spaces; so do
we, so that our record of who opted out agrees with Twilio's own (which refuses sends with error
21610). REVOKE and OPTOUT are opt-out words Twilio added for the FCC's 2025 consent rules.
"""

from __future__ import annotations

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})
HELP = frozenset({"HELP", "INFO"})

OPT_OUT_COMMAND = "/optout"
OPT_IN_COMMAND = "/optin"
HELP_COMMAND = "/help"


def keyword_command(body: str) -> str | None:
    """The command an SMS keyword stands for ("/optout", "/optin" or "/help"), or None."""
    word = body.strip().upper()
    if word in OPT_OUT:
        return OPT_OUT_COMMAND
    if word in OPT_IN:
        return OPT_IN_COMMAND
    if word in HELP:
        return HELP_COMMAND
    return None
