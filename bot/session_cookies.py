"""The web page's signed session cookie, keyed with a secret the service loads when it starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


class StartedSessionMiddleware:
    """Starlette's `SessionMiddleware`, made at the first request rather than with the app: the key
    (`COACH_SECRET_KEY`, or the one kept in the data dir) is only known once the service has started."""

    def __init__(
        self,
        app: ASGIApp,
        secret_key: Callable[[], str],
        session_cookie: str,
        max_age: int,
        same_site: Literal["lax", "strict", "none"],
        https_only: bool,
    ) -> None:
        self.app = app
        self._secret_key = secret_key
        self._options: dict[str, Any] = {
            "session_cookie": session_cookie,
            "max_age": max_age,
            "same_site": same_site,
            "https_only": https_only,
        }
        self._sessions: SessionMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Sessions on HTTP and websocket requests; the lifespan passes straight through."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self._sessions is None:
            self._sessions = SessionMiddleware(self.app, secret_key=self._secret_key(), **self._options)
        await self._sessions(scope, receive, send)
