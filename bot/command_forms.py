"""How a command is typed on each channel, so that help and prompts show what works there.

- Telegram, the web page and the terminal: `/stats` (Telegram also lists the commands in its menu).
- Slack: `/coach stats` — the app's one slash command, which the Slack adapter turns into `/stats`.
  (In a direct message Slack itself takes anything starting with `/` as a slash command.)
- SMS: `#stats` — the SMS adapter turns it into `/stats`. STOP, START and HELP stay the carriers'
  bare keywords (opt out, opt in, help), never prefixed.
"""

from __future__ import annotations

from channels.sms.keywords import COMMAND_PREFIX

SLACK_SLASH_COMMAND = "/coach"


def command_form(command: str, channel: str) -> str:
    """`command` ("join NAME", without its slash) as it is typed on `channel`."""
    command = command.lstrip("/")
    if channel == "sms":
        return f"{COMMAND_PREFIX}{command}"
    if channel == "slack":
        return f"{SLACK_SLASH_COMMAND} {command}"
    return f"/{command}"


def help_footer(channel: str) -> str:
    """What a channel's help adds: on SMS, the compliance keywords."""
    if channel == "sms":
        return "Text STOP to stop all messages, START to get them again, HELP for this list."
    return ""
