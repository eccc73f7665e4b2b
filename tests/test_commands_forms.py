"""One command registry, every channel's forms: help texts, the Telegram menu, Slack's `/coach`
subcommands and the SMS `#command` prefix (with STOP, START and HELP kept as bare keywords)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from bot.basic_commands import register_basic_commands
from bot.command_forms import command_form
from bot.commands import CommandRegistry, help_text, refusal
from bot.roles import ADMINS, CREATORS, EVERYONE, Role
from bot.runtime import Coachline
from channels.slack.events import from_command
from channels.sms.keywords import keyword_command
from tests.support.command_rig import running_rig

USER = frozenset({Role.USER})


def _registry() -> CommandRegistry:
    registry = CommandRegistry()
    register_basic_commands(registry)

    async def noop(ctx: object) -> list[object]:
        return []

    registry.command("join", "join a program", EVERYONE, "NAME")(noop)  # type: ignore[arg-type]
    registry.command("optout", "stop all messages", EVERYONE, hidden=True)(noop)  # type: ignore[arg-type]
    registry.command("docs", "list the documents", CREATORS)(noop)  # type: ignore[arg-type]
    registry.command("stats", "figures and health", ADMINS)(noop)  # type: ignore[arg-type]
    return registry


@pytest.mark.parametrize(
    ("channel", "join", "stats"),
    [
        ("telegram", "/join NAME — join a program", "/stats — figures and health"),
        ("web", "/join NAME — join a program", "/stats — figures and health"),
        ("console", "/join NAME — join a program", "/stats — figures and health"),
        ("slack", "/coach join NAME — join a program", "/coach stats — figures and health"),
        ("sms", "#join NAME — join a program", "#stats — figures and health"),
    ],
)
def test_help_shows_each_command_as_it_is_typed_on_the_channel(channel: str, join: str, stats: str) -> None:
    registry = _registry()

    as_user = help_text(registry, USER, channel)
    as_admin = help_text(registry, {Role.USER, Role.ADMIN}, channel)

    assert join in as_user and stats not in as_user and "For admins" not in as_user
    assert "optout" not in as_user  # hidden: SMS people use STOP
    assert stats in as_admin
    assert as_admin.index("For creators:") < as_admin.index("For admins:") < as_admin.index(stats)
    assert registry.forms(channel, USER)[0] == (
        command_form("start", channel),
        "say hello and see what I can do",
    )


def test_sms_help_names_the_reserved_keywords() -> None:
    assert "Text STOP to stop all messages, START to get them again, HELP for this list." in help_text(
        _registry(), USER, "sms"
    )
    assert "STOP" not in help_text(_registry(), USER, "telegram")


def test_refusals_name_the_command_as_typed_and_who_may_run_it() -> None:
    registry = _registry()
    stats, docs = registry.get("stats"), registry.get("docs")
    assert stats is not None and docs is not None

    assert refusal(stats, "telegram") == "Sorry, /stats is only for admins."
    assert refusal(stats, "sms") == "Sorry, #stats is only for admins."
    assert refusal(docs, "slack") == "Sorry, /coach docs is only for creators."


def test_the_command_menu_lists_what_a_user_may_run() -> None:
    assert [name for name, _ in _registry().menu([Role.USER])] == ["start", "help", "reset", "join"]


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ("#stats", "/stats"),
        ("#STATS", "/stats"),
        ("  #join Sleep Better ", "/join Sleep Better"),
        ("#Broadcast confirm", "/broadcast confirm"),
        ("#stop", "/stop"),  # pauses programs
        ("STOP", "/optout"),  # opts out of everything, as the carrier does
        ("start", "/optin"),
        ("Help", "/help"),
        ("#help", "/help"),
        ("# stats", None),
        ("#1 question for you", None),
        ("I love #sleep", None),
    ],
)
def test_sms_commands_are_typed_with_a_hash(body: str, command: str | None) -> None:
    assert keyword_command(body) == command


@pytest.mark.parametrize(
    "text", ["stats", "join Sleep Better", "broadcast confirm", "/enroll telegram:42 Sleep"]
)
def test_slack_coach_subcommands_are_the_same_commands(text: str) -> None:
    body = {"command": "/coach", "text": text, "user_id": "U1", "channel_id": "D1", "trigger_id": "t1"}
    message = from_command(body, datetime(2026, 1, 1, tzinfo=UTC))
    assert message.text == "/" + text.lstrip("/")


async def test_the_service_publishes_the_users_menu_to_channels_that_have_one(
    make_service: Callable[..., Coachline],
) -> None:
    async with running_rig(make_service) as rig:
        menu = rig.channels["telegram"].menu
        commands = rig.service.commands

    assert menu is not None
    names = [name for name, _ in menu]
    assert names == [command.name for command in commands.visible_to([Role.USER])]
    assert {"start", "help", "join", "stop", "resume", "timezone"} <= set(names)
    assert not {"stats", "broadcast", "upload", "claim", "optout"} & set(names)
