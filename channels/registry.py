"""Channels by name, discovered as plugins in the `coachline.channels` entry point group.

A channel — built in or from another package — is a `ChannelPlugin` object named in the group:

    [project.entry-points."coachline.channels"]
    whatsapp = "channels.whatsapp:plugin"

Every question the core asks about a channel by name goes through here: is it a channel at all
(`check_channel_name`), how are commands typed on it (`command_syntax`), what settings does it still
lack (`missing_settings`), and which channels do the settings switch on (`build_channels`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points

from channels.base import Channel
from channels.plugin import ChannelPlugin, ChannelSettings, CommandSyntax
from config import Settings
from config.settings import use_channel_name_check

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "coachline.channels"
# The channels that ship with Coachline, as pyproject.toml declares them (a test keeps the two equal).
# Used when the checkout was not (re)installed since, so that its entry points are not registered yet.
BUILTIN_CHANNELS = {
    "web": "channels.web:plugin",
    "console": "channels.console:plugin",
    "telegram": "channels.telegram:plugin",
    "slack": "channels.slack:plugin",
    "sms": "channels.sms:plugin",
    "whatsapp": "channels.whatsapp:plugin",
}

_discovered: dict[str, ChannelPlugin] | None = None
_added: dict[str, ChannelPlugin] = {}


def register(plugin: ChannelPlugin) -> ChannelPlugin:
    """Add a channel in this process without packaging it (tests, code embedding Coachline)."""
    _added[plugin.name] = plugin
    return plugin


def unregister(name: str) -> None:
    """Remove a channel added with `register`."""
    _added.pop(name, None)


def plugins() -> dict[str, ChannelPlugin]:
    """Every channel: the entry points' (loaded once), then those added in this process."""
    global _discovered
    if _discovered is None:
        _discovered = _discover()
    return {**_discovered, **_added}


def _discover() -> dict[str, ChannelPlugin]:
    points = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    stale = [name for name in BUILTIN_CHANNELS if name not in points]
    if stale:
        # A source checkout not reinstalled since its entry points changed: still serve the built-ins.
        log.warning("built-in channels %s are not installed entry points; run pip install -e .", stale)
        points.update({name: EntryPoint(name, BUILTIN_CHANNELS[name], ENTRY_POINT_GROUP) for name in stale})
    found: dict[str, ChannelPlugin] = {}
    for name, point in points.items():
        try:
            plugin = point.load()
        except Exception as exc:  # one broken third-party package must not take every channel down
            log.error("channel plugin %s (%s) failed to load: %s", name, point.value, exc)
            continue
        if not isinstance(plugin, ChannelPlugin) or plugin.name != name:
            log.error("entry point %s = %s is not a ChannelPlugin named %r", name, point.value, name)
            continue
        found[name] = plugin
    return found


def channel_names() -> list[str]:
    """The name of every channel there is (whether or not it is switched on)."""
    return sorted(plugins())


def check_channel_name(name: str) -> str:
    """`name` when it is a channel; else `ValueError` listing the channels there are."""
    if name not in plugins():
        raise ValueError(f"unknown channel {name!r}; use one of {', '.join(channel_names())}")
    return name


# Settings name channels too (COACH_ADMINS): they check them against this registry.
use_channel_name_check(check_channel_name)


def plugin_for(name: str) -> ChannelPlugin:
    """The plugin of channel `name` (`ValueError` when there is none)."""
    return plugins()[check_channel_name(name)]


def command_syntax(name: str) -> CommandSyntax:
    """How commands are typed on channel `name`; the slash form for a channel not known here."""
    plugin = plugins().get(name)
    return plugin.syntax if plugin is not None else CommandSyntax()


def channel_settings(name: str, env_file: str | None = ".env") -> ChannelSettings:
    """Channel `name`'s own settings, read from the environment and `env_file`."""
    return plugin_for(name).settings.load(env_file)


def missing_settings(channel_name: str, own: ChannelSettings | None = None) -> list[str]:
    """The environment variables channel `channel_name` needs but lacks (empty: it can run).

    Alternatives are written "A or B". `own` are its settings if already read (else the environment
    and `.env` are). `ValueError` for a name that is no channel.
    """
    plugin = plugin_for(channel_name)
    return (own if own is not None else plugin.settings.load()).missing()


def build_channels(
    settings: Settings,
    names: list[str] | None = None,
    *,
    channel_settings: Mapping[str, ChannelSettings] | None = None,
    env_file: str | None = ".env",
) -> dict[str, Channel]:
    """The channels their settings switch on (or just `names`), ready to start.

    Each channel's own settings come from `channel_settings` when given there, else from the
    environment and `env_file`; a bad value raises `SettingsError` naming its variable.
    """
    given = channel_settings or {}
    built: dict[str, Channel] = {}
    for name, plugin in plugins().items():
        if names is not None and name not in names:
            continue
        own = given.get(name) or plugin.settings.load(env_file)
        channel = plugin.build(settings, own)
        if channel is not None:
            built[name] = channel
    return built
