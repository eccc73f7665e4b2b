"""Private files: the data dir, the SQLite database, the embedded Chroma and the key files are the
owner's only (0700 directories, 0600 files), because they hold chat history and phone numbers.

Applied at every start, so an install made before this (0755/0644) is tightened too. Permissions
are only ever taken away, never added.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from config import Settings

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# Files SQLite keeps beside the database (it gives them the database's mode when it makes them).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
KEY_FILES = ("admin_api_key", "session_secret")


def private_directory(path: Path) -> None:
    """Make `path` (and its missing parents) and leave it readable by its owner only."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _tighten(path, PRIVATE_DIR)


def private_file(path: Path) -> None:
    """Create `path` empty if missing (so a later writer keeps its mode) and make it owner-only."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    _tighten(path, PRIVATE_FILE)


def prepare_private_storage(settings: Settings) -> None:
    """Create the data dir, the SQLite file and the Chroma dir owner-only; tighten key files."""
    private_directory(settings.data_dir)
    if not settings.chroma_url:
        private_directory(settings.data_dir / "chroma")
    database = sqlite_path(settings.resolved_database_url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)  # elsewhere than the data dir: its own choice
        private_file(database)
        for suffix in SQLITE_COMPANIONS:
            companion = database.with_name(database.name + suffix)
            if companion.exists():
                _tighten(companion, PRIVATE_FILE)
    for name in KEY_FILES:
        key_file = settings.data_dir / name
        if key_file.exists():
            _tighten(key_file, PRIVATE_FILE)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _tighten(path: Path, allowed: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~allowed:
        path.chmod(current & allowed)
        log.info("%s was readable by others (%o); now %o", path, current, current & allowed)
