"""The `twilio` library's REST client as the Twilio channels use it, and its errors as `SendError`s.

twilio's aiohttp client gets a whole-request timeout and remembers the responses of the current
task, so that a 429's Retry-After header (which `TwilioRestException` does not carry) can be read.
"""

from __future__ import annotations

import base64
import contextvars
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from channels.base import PermanentSendError, RecipientUnreachableError, SendError, TemporarySendError

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 30.0
# Twilio error codes (https://www.twilio.com/docs/api/errors).
UNSUBSCRIBED = 21610  # the recipient texted STOP: Twilio refuses every send until they text START
RATE_LIMITED = (20429, 21611)  # too many requests; the sender's queue is full
AUTHENTICATION = (20003,)

# The responses of the REST calls made by the current task (a context variable: sends run at once).
_responses: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "twilio_responses", default=None
)


class TwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """twilio's aiohttp client with a request timeout, remembering responses for `retry_after`."""

    def __init__(self, timeout: float) -> None:
        super().__init__(pool_connections=False)
        # One pooled session with a whole-request timeout (the stock client has none).
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Any:
        headers = dict(headers or {})
        if auth is not None:
            # Sent as a header: aiohttp 3.14 deprecates the `BasicAuth` object the stock client builds.
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {credentials}"
        response = await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        seen = _responses.get()
        if seen is not None:
            seen.append(response)
        return response


def rest_client(account_sid: str, auth_token: str, api_url: str) -> tuple[Client, TwilioHttpClient]:
    """A REST client calling `api_url` (and its HTTP client, to close); make it inside the running loop."""
    http = TwilioHttpClient(REQUEST_TIMEOUT_SECONDS)
    client = Client(account_sid, auth_token, http_client=http)
    client.api.base_url = api_url.rstrip("/")
    return client, http


async def create_message(client: Client, params: Mapping[str, Any]) -> str:
    """Create one message (`messages.create_async`), returning its SID; failures as `SendError`s.

    A refusal becomes a `TwilioRefusalError` (see `send_error`); no answer a `TemporarySendError`.
    """
    responses: list[Any] = []
    token = _responses.set(responses)
    try:
        created = await client.messages.create_async(**params)
    except (TwilioRestException, TwilioServiceException) as exc:
        raise TwilioRefusalError(exc, _retry_after(responses)) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TemporarySendError(f"Twilio did not answer: {type(exc).__name__}: {exc}") from exc
    finally:
        _responses.reset(token)
    return str(created.sid)


class TwilioRefusalError(Exception):
    """Twilio refused a request: its HTTP status, error code and message, and any Retry-After."""

    def __init__(self, exc: TwilioRestException | TwilioServiceException, retry_after: float | None) -> None:
        self.status = int(exc.status or 0)
        self.code = int(exc.code) if exc.code is not None else None
        detail = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
        self.reason = f"Twilio error {self.code} (HTTP {self.status}): {detail}"
        self.retry_after = retry_after
        super().__init__(self.reason)

    @property
    def bad_credentials(self) -> bool:
        """Twilio refused the account SID and auth token."""
        return self.status in (401, 403) or self.code in AUTHENTICATION


def send_error(failure: TwilioRefusalError) -> SendError:
    """The outbox's view of a refusal: opted out, try again later, or never."""
    if failure.code == UNSUBSCRIBED:
        return RecipientUnreachableError(failure.reason, opted_out=True)
    if failure.status == 429 or failure.code in RATE_LIMITED or failure.status >= 500:
        return TemporarySendError(failure.reason, retry_after=failure.retry_after)
    return PermanentSendError(failure.reason)


def _retry_after(responses: list[Any]) -> float | None:
    """The Retry-After (seconds) of the last response, if it sent one."""
    if not responses or not responses[-1].headers:
        return None
    value = responses[-1].headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
