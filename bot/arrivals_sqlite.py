"""The arrival write on SQLite, run in one call on the driver's own connection.

A webhook is acknowledged once its message is stored, so this write is on every platform request's
path. Through SQLAlchemy each of its statements cost about 0.15 ms of CPU in the engine (parameter
processing, result set-up, a greenlet switch per driver call), several times what SQLite took to run
it. Here the pace reads and the inserts are one synchronous call on the `sqlite3` connection that the
inline driver (`bot.foundation.sqlite_inline`) already runs on the event loop, inside the transaction
SQLAlchemy opened and commits. The SQL, parameter order and value conversions are SQLAlchemy's own,
taken once from the Core statements and the column types, so a row written here is the row the Core
path writes (`tests/test_arrivals.py` reads both back and compares them).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.foundation.sqlite_inline import InlineConnection
from bot.models import InboxMessage
from bot.pacing import (
    LATEST_DUE_OF_ONE,
    SET_ASIDE_SINCE,
    Pace,
    Sender,
    SenderRate,
    place,
    set_aside_since,
    to_ask,
    unless_told,
)

INBOX = cast(Table, InboxMessage.__table__)
_DIALECT = sqlite.dialect()

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Compiled:
    """One statement as SQLite text with its positional parameters' names and bind conversions."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Processor | None, ...]
    defaults: dict[str, Any]  # what a parameter left out of `values` is (a column's scalar default)

    def parameters(self, values: dict[str, Any]) -> tuple[Any, ...]:
        """The positional parameters for `values`, converted as SQLAlchemy converts them."""
        given = (values[name] if name in values else self.defaults[name] for name in self.names)
        return tuple(
            value if process is None else process(value)
            for value, process in zip(given, self.processors, strict=True)
        )


def _compile(statement: Any, defaults: dict[str, Any] | None = None) -> _Compiled:
    compiled = statement.compile(dialect=_DIALECT)
    names = tuple(compiled.positiontup or ())
    binds = compiled.binds
    processors = tuple(binds[name].type.dialect_impl(_DIALECT).bind_processor(_DIALECT) for name in names)
    # Values the statement carries itself (a LIMIT's, a literal's), then the columns' defaults.
    fixed = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
    return _Compiled(compiled.string, names, processors, fixed | (defaults or {}))


def _scalar_defaults(table: Table) -> dict[str, Any]:
    """Each column's value when an insert leaves it out, as Core fills it in: its scalar default or
    NULL. A column whose default is computed is left out, so leaving it out of a row is a KeyError."""
    return {
        column.name: getattr(column.default, "arg", None)
        for column in table.columns
        if column.default is None or getattr(column.default, "is_scalar", False)
    }


@cache
def _statements() -> tuple[_Compiled, _Compiled, _Compiled, Processor | None]:
    """The insert, pacing's two reads (`bot.pacing`) and the due-time reader, compiled on first use."""
    insert_row = _compile(
        sqlite.insert(INBOX)
        .values(
            {
                column.name: bindparam(column.name, type_=column.type)
                for column in INBOX.columns
                if column.name != "id"
            }
        )
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
        .returning(INBOX.c.id),
        _scalar_defaults(INBOX),
    )
    read_due = INBOX.c.due_at.type.dialect_impl(_DIALECT).result_processor(_DIALECT, None)
    return insert_row, _compile(LATEST_DUE_OF_ONE), _compile(SET_ASIDE_SINCE), read_due


async def _driver(connection: AsyncConnection) -> InlineConnection:
    raw = await connection.get_raw_connection()
    return cast(InlineConnection, raw.driver_connection)


async def write_arrivals(
    connection: AsyncConnection,
    rate: SenderRate,
    senders: Sequence[Sender | None],
    rows: Callable[[list[Pace]], list[dict[str, Any]]],
    now: datetime,
) -> tuple[list[Pace], list[int | None]]:
    """Pace `senders` and insert `rows(verdicts)` as the first work of `connection`'s transaction.

    Returns the verdicts and, per row, its new id (None for a redelivery, which inserts nothing).
    """
    driver = await _driver(connection)
    return await driver.run_sync("inbox arrivals", lambda db: _write(db, rate, senders, rows, now))


def _write(
    db: sqlite3.Connection,
    rate: SenderRate,
    senders: Sequence[Sender | None],
    rows: Callable[[list[Pace]], list[dict[str, Any]]],
    now: datetime,
) -> tuple[list[Pace], list[int | None]]:
    # The write lock first, so the pace reads see what the inserts follow. Refused as busy, nothing has
    # started: the driver runs the whole call again off the loop, waiting for the lock there.
    if not db.in_transaction:
        db.execute("BEGIN IMMEDIATE")
    insert_row, latest_due, set_aside, read_due = _statements()
    latest: dict[Sender, datetime] = {}
    for sender in {sender for sender in senders if sender is not None}:
        due = _first(db, latest_due, _sender(sender))
        if due is not None:
            latest[sender] = read_due(due) if read_due else due
    verdicts = place(rate, senders, latest, now)
    since = set_aside_since(rate, now)
    told = {
        sender
        for sender in to_ask(verdicts, senders)
        if _first(db, set_aside, _sender(sender) | {"since": since}) is not None
    }
    verdicts = unless_told(verdicts, senders, told)
    ids: list[int | None] = []
    for values in rows(verdicts):
        ids.append(_first(db, insert_row, values))
    return verdicts, ids


def _first(db: sqlite3.Connection, statement: _Compiled, values: dict[str, Any]) -> Any:
    """The first column of the first row `statement` gives, or None.

    Every row is read: a statement left part-way is still active, and an active INSERT … RETURNING
    makes the COMMIT that follows fail as busy.
    """
    rows = db.execute(statement.sql, statement.parameters(values)).fetchall()
    return rows[0][0] if rows else None


def _sender(sender: Sender) -> dict[str, Any]:
    return {"channel": sender[0], "sender_id": sender[1]}
