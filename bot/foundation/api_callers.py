"""Who calls the REST API, as the routers an engine owns see it: the face authenticates, they decide.

An engine's router (`programs.api`) is built from narrow dependencies the face hands it: a FastAPI
dependency giving the caller, and a function resolving which creator a call acts for. These are
their types, so that the engine never imports the face.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class CallerIdentity(Protocol):
    """The holder of the bearer key: the admin, or one creator."""

    @property
    def is_admin(self) -> bool:
        """Whether the key is the admin key (it may act for any creator)."""
        ...

    @property
    def creator_id(self) -> str | None:
        """The creator whose key it is; None for the admin."""
        ...


# A FastAPI dependency that authenticates the request and gives its caller (401 when it cannot).
CallerDependency = Callable[..., Awaitable[Any]]
# The creator a call acts for, given the caller and the `creator_id` it named (404/403/503 otherwise).
ActingCreator = Callable[[CallerIdentity, str | None], Awaitable[str]]
