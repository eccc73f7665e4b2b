"""The few SQL expressions analytics needs whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, String, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import TableValuedAlias


class utc_day(FunctionElement[str]):  # noqa: N801 - SQL functions are named like functions
    """The UTC calendar day of a timestamp, as "YYYY-MM-DD" text."""

    type = String()
    inherit_cache = True


class epoch_seconds(FunctionElement[float]):  # noqa: N801 - SQL functions are named like functions
    """A timestamp as seconds since 1970 (for adding durations the same way on every database)."""

    type = Float()
    inherit_cache = True


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps timestamps as UTC text (bot.foundation.tables.UTCDateTime converts on the way in).
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # timestamptz is shown in the session's time zone unless asked for UTC.
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(epoch_seconds, "sqlite")
def _epoch_seconds_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch_seconds, "postgresql")
def _epoch_seconds_postgresql(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


def json_number_elements(dialect: str, document: SQLCoreOperations[Any], key: str) -> TableValuedAlias:
    """A table of the elements (column `value`) of the JSON array at `key` of `document`, to join."""
    if dialect == "postgresql":
        return func.json_array_elements_text(document[key]).table_valued("value")
    return func.json_each(document, f"$.{key}").table_valued("value")
