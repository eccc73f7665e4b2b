"""A creator's phrasebook: the openers, closers and transitions they use, taken from their documents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_FIELDS = (
    "openers",
    "closers",
    "transitions",
    "reader_address",
    "encouragements",
    "phrasings",
    "characteristic_words",
)


@dataclass(frozen=True, slots=True)
class Phrasebook:
    """Phrases from the creator's own documents, each kind chosen by a measurable rule."""

    openers: tuple[str, ...] = ()
    closers: tuple[str, ...] = ()
    transitions: tuple[str, ...] = ()
    reader_address: tuple[str, ...] = ()
    encouragements: tuple[str, ...] = ()
    phrasings: tuple[str, ...] = ()
    characteristic_words: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in the profile."""
        return {name: list(getattr(self, name)) for name in _FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Phrasebook:
        """The inverse of `to_dict` (missing kinds are empty)."""
        return cls(**{name: tuple(str(item) for item in data.get(name, ())) for name in _FIELDS})
