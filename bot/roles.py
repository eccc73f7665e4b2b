"""Roles and who holds them."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a person may do: every person is a user; creators manage their twin; admins run the service."""

    USER = "user"
    CREATOR = "creator"
    ADMIN = "admin"


EVERYONE = frozenset({Role.USER, Role.CREATOR, Role.ADMIN})
CREATORS = frozenset({Role.CREATOR, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})
