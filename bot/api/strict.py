"""Request bodies refuse what the database cannot store, at the edge, with a 422 naming the field.

A NUL character passes JSON and pydantic but makes PostgreSQL fail the statement, and a lone UTF-16
surrogate (`"\\ud800"` in JSON) passes both but can be neither stored nor written back as UTF-8:
both used to surface later as a 500. Every REST request model derives from `RequestModel`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator

from bot.foundation.messages import UNSTORABLE


def unstorable_text(value: Any, where: str = "body") -> str | None:
    """Where in `value` (JSON-like data) there is text no database can store, and why; None if nowhere."""
    if isinstance(value, str):
        found = UNSTORABLE.search(value)
        if found is None:
            return None
        what = "a NUL character (\\u0000)" if found.group() == "\x00" else "a lone UTF-16 surrogate"
        return f"{where}: contains {what}, which cannot be stored"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = unstorable_text(key, where) or unstorable_text(item, f"{where}.{key}")
            if problem:
                return problem
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = unstorable_text(item, f"{where}.{index}")
            if problem:
                return problem
    return None


class RequestModel(BaseModel):
    """The base of every REST request body: text a database cannot store is refused (422)."""

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        problem = unstorable_text(data)
        if problem:
            raise ValueError(problem.removeprefix("body."))
        return data
