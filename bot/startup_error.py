"""The one error a start can end with: a line that says what failed and which setting to check."""

from __future__ import annotations


class StartupError(RuntimeError):
    """The service cannot start; the message is one line naming what failed and the setting to check."""


def one_line(exc: BaseException) -> str:
    """An exception as one line: the OS's reason and path, or its type and first line (driver errors
    can span several lines, and a traceback is no help to someone fixing a setting)."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
