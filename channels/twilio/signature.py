"""Checking `X-Twilio-Signature` on Twilio's webhooks.

Twilio signs the URL it called plus the POST parameters (HMAC-SHA1 with the auth token). Behind a
proxy the URL this server sees differs from that one, so the signed URL is rebuilt from
`COACH_PUBLIC_URL` and the webhook's path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


def signed_url(public_url: str, path: str, query: str, request_url: str) -> str:
    """The URL Twilio signed: the public base URL and the path when configured, else what we saw."""
    if not public_url:
        return request_url
    return f"{public_url.rstrip('/')}{path}" + (f"?{query}" if query else "")


def is_signed_by_twilio(auth_token: str, url: str, params: Mapping[str, Any] | str, signature: str) -> bool:
    """Whether `signature` is Twilio's for this URL and these parameters (or this JSON body).

    `params` may be a multi-dict (repeated parameters all count), as Starlette's form data is.
    """
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))
