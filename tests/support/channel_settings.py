"""A channel's own settings from the flat names tests use (`telegram_bot_token=...`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from channels.plugin import ChannelSettings

S = TypeVar("S", bound=ChannelSettings)


def own_settings(cls: type[S], values: Mapping[str, Any], *prefixes: str) -> S:
    """`cls` from the entries of `values` named with one of `prefixes` (which are taken off)."""
    picked: dict[str, Any] = {}
    for key, value in values.items():
        for prefix in prefixes:
            if key.startswith(prefix) and key.removeprefix(prefix) in cls.model_fields:
                picked[key.removeprefix(prefix)] = value
            elif key.startswith(prefix) and key in cls.model_fields:
                picked[key] = value
    return cls.of(**picked)
