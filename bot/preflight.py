"""The start step's I/O: the private data dir, the key files, the database and the vector store.

Building the service touches nothing (see `bot.composition`); everything that can fail because of the
machine happens here, when the service starts, and fails with one line that names the setting to fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.deferred_store import DeferredVectorStore
from bot.file_modes import prepare_private_storage
from bot.foundation.db import migrate
from bot.secrets import load_or_create_secret
from bot.startup_error import StartupError, one_line
from config import Settings

ADMIN_KEY_FILE = "admin_api_key"
SESSION_SECRET_FILE = "session_secret"


@dataclass(frozen=True, slots=True)
class ServiceKeys:
    """The secrets a started service holds: the admin key and the web session cookie's signing key."""

    admin_api_key: str
    admin_api_key_created: bool  # made at this start: the start-up report prints it once
    session_secret: str


@dataclass(frozen=True, slots=True)
class Preflight:
    """The start step: each piece of start-up I/O, in order, each failing with a one-line `StartupError`."""

    settings: Settings
    engine: AsyncEngine
    vector_store: DeferredVectorStore | None  # None: the caller handed in a store that is already open

    async def run(self) -> ServiceKeys:
        """Make the private data dir, load (or make) the keys, migrate the database, open the store."""
        settings = self.settings
        try:
            # Chat history and phone numbers live there: owner-only (see bot.file_modes).
            prepare_private_storage(settings)
        except OSError as exc:
            raise StartupError(
                f"cannot use the data dir {settings.data_dir} (COACH_DATA_DIR): {one_line(exc)}"
            ) from exc
        keys = self._keys()
        try:
            await migrate(self.engine)
        except Exception as exc:
            shown = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
            raise StartupError(
                f"cannot use the database {shown} (COACH_DATABASE_URL): {one_line(exc)}"
            ) from exc
        if self.vector_store is not None:
            await self.vector_store.open()
        return keys

    def _keys(self) -> ServiceKeys:
        settings = self.settings
        try:
            if settings.api_key:
                admin_key, created = settings.api_key, False
            else:
                admin_key, created = load_or_create_secret(settings.data_dir / ADMIN_KEY_FILE, prefix="adm")
            session_secret = (
                settings.secret_key
                or load_or_create_secret(settings.data_dir / SESSION_SECRET_FILE, prefix="ses")[0]
            )
        except OSError as exc:
            raise StartupError(
                f"cannot keep the service's keys in {settings.data_dir} (COACH_DATA_DIR): {one_line(exc)}"
            ) from exc
        return ServiceKeys(admin_key, created, session_secret)
