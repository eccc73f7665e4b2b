"""The one error shape of the REST API, and what each status means.

Every error answer is `{"detail": "<what went wrong, in words>"}`; a 422 adds `errors`, one entry per
problem (`loc`, `msg`, `type`), as FastAPI reports them. Routers document their errors with
`error_responses(...)`, so the OpenAPI schema promises exactly the shape the app sends.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ProblemOut(BaseModel):
    """One problem with a request: where (`loc`), what (`msg`) and its kind (`type`)."""

    loc: list[str | int] = Field(default_factory=list)
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every error answer of the API."""

    detail: str = Field(description="what went wrong, in words a person can act on")
    errors: list[ProblemOut] | None = Field(
        None, description="a 422's problems one by one (absent for the other statuses)"
    )


_MEANINGS = {
    400: "The body cannot be read (not the encoding or format it says it is)",
    401: "No API key, or not a valid one (send 'Authorization: Bearer <key>')",
    403: "The key may not do this (a creator's key acts only for its creator; some routes need the admin key)",
    404: "Not found, or not this creator's",
    409: "The request conflicts with the current state (the message says what to do first)",
    413: "The body or file is larger than the limit",
    422: "The request is well formed but its values are not acceptable (each problem is named)",
    503: "The service is still starting",
    504: "The reply is taking longer than the wait; it will appear in the conversation",
    429: "Too many messages from this sender: wait as long as Retry-After says, then send again",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, all in the `ErrorOut` shape."""
    return {status: {"model": ErrorOut, "description": _MEANINGS[status]} for status in statuses}


# What every authenticated route can answer besides its own success.
COMMON_ERRORS = error_responses(400, 401, 403, 404, 422, 503)
