"""Channels by name: a new channel is one module that registers a factory here."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from channels.base import Channel
from config import Settings

# A factory returns None when the channel's settings leave it switched off.
ChannelFactory = Callable[[Settings], Channel | None]

_FACTORIES: dict[str, ChannelFactory] = {}
# The channels that ship with Coachline, each a module of this package that registers itself.
BUILTIN_CHANNELS = ("web", "telegram", "slack", "sms")


def register_channel(name: str) -> Callable[[ChannelFactory], ChannelFactory]:
    """Register a channel factory under a name (decorator)."""

    def register(factory: ChannelFactory) -> ChannelFactory:
        _FACTORIES[name] = factory
        return factory

    return register


def registered_channels() -> list[str]:
    """The names of every registered channel."""
    _load_builtin()
    return list(_FACTORIES)


def build_channels(settings: Settings, names: list[str] | None = None) -> dict[str, Channel]:
    """The channels switched on by the settings (or just `names`), ready to start."""
    _load_builtin()
    built: dict[str, Channel] = {}
    for name, factory in _FACTORIES.items():
        if names is not None and name not in names:
            continue
        channel = factory(settings)
        if channel is not None:
            built[name] = channel
    return built


def _load_builtin() -> None:
    # Imported for their registration side effect; late, so that importing the registry stays cheap.
    for module in BUILTIN_CHANNELS:
        importlib.import_module(f"channels.{module}")
