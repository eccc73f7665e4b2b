"""The compliance keywords (STOP, START, HELP) as the chat commands that act on them.

Twilio matches a keyword when it is the whole message, ignoring case and surrounding spaces; so do
we, so that our record of who opted out agrees with Twilio's own (which refuses SMS sends with error
21610). REVOKE and OPTOUT are opt-out words Twilio added for the FCC's 2025 consent rules. WhatsApp
has no carrier keywords, but its policy asks a business to honour an opt-out however it is written,
so the same words count there.
"""

from __future__ import annotations

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})
HELP = frozenset({"HELP", "INFO"})

OPT_OUT_COMMAND = "/optout"
OPT_IN_COMMAND = "/optin"
HELP_COMMAND = "/help"
# Twilio's Advanced Opt-Out names the keyword type it matched (including a Messaging Service's own).
OPT_OUT_TYPES = {"STOP": OPT_OUT_COMMAND, "START": OPT_IN_COMMAND, "HELP": HELP_COMMAND}


def compliance_command(body: str) -> str | None:
    """ "/optout", "/optin" or "/help" when the whole message is one of their keywords, else None."""
    word = body.strip().upper()
    if word in OPT_OUT:
        return OPT_OUT_COMMAND
    if word in OPT_IN:
        return OPT_IN_COMMAND
    if word in HELP:
        return HELP_COMMAND
    return None
