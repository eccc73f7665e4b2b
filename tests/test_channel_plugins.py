"""Channels as plugins: discovered through entry points, each declaring its settings, capabilities and
command syntax; the core names no channel; a channel added in-process works with no core change."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic_settings import SettingsConfigDict

from bot.command_forms import command_form, help_footer, opted_in_text
from channels import registry
from channels.plugin import Capabilities, ChannelPlugin, ChannelSettings, CommandSyntax
from config import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]
# The platforms: their names may appear in channels/ (and docs and tests), nowhere else in code.
PLATFORM_NAMES = ("telegram", "slack", "sms", "whatsapp", "twilio")
CORE = ("bot", "coaching", "programs", "config", "run.py")


def _code_strings(path: Path) -> Iterator[tuple[int, str]]:
    """Every string constant in a module that is not a docstring."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_no_code_outside_channels_names_a_platform() -> None:
    files = [ROOT / "run.py"] + [
        path for part in CORE[:-1] for path in (ROOT / part).rglob("*.py") if "migrations" not in path.parts
    ]
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in files
        for line, text in _code_strings(path)
        if any(name in text.lower() for name in PLATFORM_NAMES)
    ]

    assert found == []


def test_the_built_in_channels_are_the_entry_points_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][
        "coachline.channels"
    ]

    assert declared == registry.BUILTIN_CHANNELS
    assert set(registry.channel_names()) >= set(declared)
    for name, plugin in registry.plugins().items():
        assert plugin.name == name and isinstance(plugin.capabilities, Capabilities)


def test_missing_settings_names_what_each_channel_lacks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for variable in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "WHATSAPP_FROM_NUMBER", "TELEGRAM_BOT_TOKEN"):
        monkeypatch.delenv(variable, raising=False)

    assert registry.missing_settings("web") == []
    assert registry.missing_settings("telegram") == ["TELEGRAM_BOT_TOKEN"]
    assert registry.missing_settings("slack") == [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET or SLACK_APP_TOKEN",
    ]
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC1")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token")
    assert registry.missing_settings("whatsapp") == ["WHATSAPP_FROM_NUMBER"]
    monkeypatch.setenv("WHATSAPP_FROM_NUMBER", "+14155238886")
    assert registry.missing_settings("whatsapp") == []
    assert registry.missing_settings("sms") == ["TWILIO_FROM_NUMBER"]
    with pytest.raises(ValueError, match="unknown channel 'fax'"):
        registry.missing_settings("fax")


def test_a_bad_channel_setting_is_a_settings_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")  # without a signing secret or app token
    monkeypatch.setenv("TELEGRAM_API_URL", "api.telegram.org")

    with pytest.raises(SettingsError) as slack:
        registry.channel_settings("slack")
    with pytest.raises(SettingsError) as telegram:
        registry.build_channels(Settings(_env_file=None), ["telegram"])  # type: ignore[call-arg]

    assert "SLACK_SIGNING_SECRET" in str(slack.value)
    assert "TELEGRAM_API_URL" in str(telegram.value)


def test_each_channel_says_how_its_commands_are_typed() -> None:
    assert [command_form("join NAME", name) for name in ("telegram", "slack", "sms", "whatsapp", "web")] == [
        "/join NAME",
        "/coach join NAME",
        "#join NAME",
        "/join NAME",
        "/join NAME",
    ]
    assert "STOP" in help_footer("sms") and help_footer("telegram") == ""
    assert "HELP" in opted_in_text("sms") and "/optout" in opted_in_text("web")


# --- a new channel, added with no change to the core --------------------------------------------


class PagerSettings(ChannelSettings):
    """A made-up pager service's settings: PAGER_TOKEN."""

    model_config = SettingsConfigDict(env_prefix="PAGER_")
    required = (("token",),)

    token: str = ""


PAGER = ChannelPlugin(
    name="pager",
    build=lambda settings, own: None,
    settings=PagerSettings,
    capabilities=Capabilities(max_message_chars=240),
    syntax=CommandSyntax(prefix="!", help_footer="Page STOP to stop."),
)


@pytest.fixture
def pager() -> Iterator[ChannelPlugin]:
    """The pager channel, registered in this process as an installed plugin would be."""
    registry.register(PAGER)
    yield PAGER
    registry.unregister(PAGER.name)


def test_a_new_channel_is_known_everywhere_without_a_core_change(
    pager: ChannelPlugin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COACH_ADMINS", "pager:555,whatsapp:+15550001111")

    assert load_settings().admin_accounts() == {("pager", "555"), ("whatsapp", "+15550001111")}
    assert command_form("stats", "pager") == "!stats" and help_footer("pager") == "Page STOP to stop."
    assert registry.missing_settings("pager") == ["PAGER_TOKEN"]
    assert registry.check_channel_name("pager") == "pager"


def test_an_unknown_channel_in_the_admins_is_refused_listing_the_registered_ones(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COACH_ADMINS", "pager:555")

    with pytest.raises(SettingsError) as error:
        load_settings()

    assert "unknown channel 'pager'" in str(error.value) and "whatsapp" in str(error.value)
