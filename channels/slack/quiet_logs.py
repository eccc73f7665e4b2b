"""Keep request bodies out of the logs: Bolt writes the full body of every refused request.

A forged or stale request to `POST /webhooks/slack` makes slack_bolt log "Invalid request signature
detected (signature: ..., timestamp: ..., body: <everything>)" at INFO, and a request no middleware
answered is logged with its body too. Bodies carry people's messages, so they are replaced by their
size. Bolt copies a base logger's filters to every logger it makes, so one filter covers them all.
"""

from __future__ import annotations

import logging
import re

# "body: <anything>)" at the end of the signature message; "(for the request (<body>)" in others.
_BODY = re.compile(r"(body: )(.*)(\))$|(for the request \()(.*)(\))$", re.DOTALL)


class RequestBodyFilter(logging.Filter):
    """Rewrites a log record so that a request body in it becomes `<N characters withheld>`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; only its body is taken out."""
        message = record.getMessage()
        redacted = _BODY.sub(_withheld, message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _withheld(match: re.Match[str]) -> str:
    head, body, tail = (match.group(1), match.group(2), match.group(3))
    if head is None:
        head, body, tail = match.group(4), match.group(5), match.group(6)
    return f"{head}<{len(body)} characters withheld>{tail}"


def bolt_base_logger() -> logging.Logger:
    """The logger handed to `AsyncApp(logger=...)`: Bolt's loggers inherit its body filter."""
    logger = logging.getLogger("coachline.slack_bolt")
    if not any(isinstance(existing, RequestBodyFilter) for existing in logger.filters):
        logger.addFilter(RequestBodyFilter())
    return logger
