"""A fake Twilio: the Messages REST API and media downloads on an ephemeral port, plus signed callbacks.

Tests drive it with the real `twilio` client (`Client(...).api.base_url = fake.url`), so paths, basic
auth, form fields and JSON shapes are checked for real:

    async with run_fake_twilio() as twilio:
        ...
        assert twilio.messages[0].to == "+15550001111"

Knobs: `opted_out` numbers get error 21610 like a number that texted STOP; `errors` are answered, one
per request, before anything else; `redirect_media_to` sends media downloads to another host, as
Twilio redirects them to its storage.

WhatsApp: messages from `whatsapp_number` go to `whatsapp:+…` addresses. A free-form message (no
`ContentSid`) is refused with error 63016 unless the person's 24-hour window is open, which
`send_inbound` opens (as their message does) and `close_window` closes; `templates` are the approved
content templates (content SID → text with `{{1}}`-style variables).
"""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from tests.support.asgi_server import serve_asgi
from tests.support.waiting import HANG_SECONDS, until

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
FROM_NUMBER = "+15005550006"
WHATSAPP_NUMBER = "whatsapp:+14155238886"
WHATSAPP_PREFIX = "whatsapp:"
API_VERSION = "2010-04-01"

# Twilio's own tables, written out again here (not imported from the adapter) so that the fake's
# `num_segments` is an independent check of the adapter's segment counting.
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[]~|€\f")


def twilio_segments(body: str) -> int:
    """How many segments Twilio bills a body as."""
    if set(body) <= _GSM_BASIC | _GSM_EXTENDED:
        widths = [2 if char in _GSM_EXTENDED else 1 for char in body]
        single, multi = 160, 153
    else:
        widths = [len(char.encode("utf-16-le")) // 2 for char in body]
        single, multi = 70, 67
    if sum(widths) <= single:
        return 1
    count, used = 1, 0
    for width in widths:
        if used + width > multi:
            count, used = count + 1, 0
        used += width
    return count


@dataclass(frozen=True, slots=True)
class FakeError:
    """An error answer: HTTP status, Twilio error code and message, and extra headers."""

    status: int
    code: int
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)


UNSUBSCRIBED = FakeError(400, 21610, "Attempt to send to unsubscribed recipient")
TOO_MANY_REQUESTS = FakeError(429, 20429, "Too Many Requests", {"Retry-After": "7"})
SERVER_ERROR = FakeError(500, 20500, "Internal Server Error")
INVALID_NUMBER = FakeError(400, 21211, "Invalid 'To' Phone Number")
OUTSIDE_WINDOW = FakeError(
    400,
    63016,
    "Failed to send freeform message because you are outside the allowed window. "
    "If you are using WhatsApp, please use a Message Template.",
)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the fake accepted."""

    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    num_segments: int
    at: float  # time.monotonic() when it arrived
    content_sid: str | None = None
    content_variables: dict[str, str] = field(default_factory=dict)
    media_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MediaRequest:
    """A media download the fake served (or refused)."""

    path: str
    authorization: str | None


@dataclass
class FakeTwilio:
    """The fake's state: what it accepted, what it will refuse, the media it holds."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    from_number: str = FROM_NUMBER
    whatsapp_number: str = WHATSAPP_NUMBER
    open_windows: set[str] = field(default_factory=set)  # whatsapp:+… addresses that wrote within 24 h
    templates: dict[str, str] = field(default_factory=dict)
    messages: list[SentMessage] = field(default_factory=list)
    errors: list[FakeError] = field(default_factory=list)
    opted_out: set[str] = field(default_factory=set)
    requests: int = 0
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    media_requests: list[MediaRequest] = field(default_factory=list)
    redirect_media_to: str | None = None
    url: str = ""
    _sid_numbers: itertools.count[int] = field(default_factory=itertools.count)

    def app(self) -> Starlette:
        """The ASGI application."""
        base = f"/{API_VERSION}/Accounts/{{account}}"
        return Starlette(
            routes=[
                Route(f"{base}/Messages.json", self._create_message, methods=["POST"]),
                Route(f"{base}/Messages/{{message}}/Media/{{media}}", self._media, methods=["GET"]),
                Route("/storage/{media}", self._storage, methods=["GET"]),
            ]
        )

    # --- what tests call -----------------------------------------------------------------------

    def add_media(self, message_sid: str, data: bytes, content_type: str) -> str:
        """Hold a file as inbound MMS media; returns its MediaUrl (on this fake)."""
        media_sid = "ME" + uuid.uuid4().hex
        self.media[media_sid] = (data, content_type)
        return (
            f"{self.url}/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message_sid}/Media/{media_sid}"
        )

    def close_window(self, address: str) -> None:
        """24 hours passed since `address` (whatsapp:+…) last wrote."""
        self.open_windows.discard(address)

    async def send_inbound(
        self, params: Mapping[str, str], *, signed_for: str, deliver_to: str, signature: str | None = None
    ) -> httpx.Response:
        """POST an inbound message webhook as Twilio does: signed for `signed_for` (the public URL it
        calls), delivered to `deliver_to` (the app's real address). A WhatsApp sender's window opens."""
        sender = params.get("From", "")
        if sender.startswith(WHATSAPP_PREFIX):
            self.open_windows.add(sender)
        headers = {
            "X-Twilio-Signature": signature if signature is not None else self.sign(signed_for, params)
        }
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(deliver_to, data=dict(params), headers=headers)

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """The X-Twilio-Signature Twilio would send for a POST of `params` to `url`."""
        return str(RequestValidator(self.auth_token).compute_signature(url, dict(params)))

    async def wait_for_messages(self, count: int, *, timeout: float = HANG_SECONDS) -> list[SentMessage]:
        """Wait until at least `count` messages were accepted (a benchmark may allow longer than a test)."""
        await until(
            lambda: len(self.messages) >= count,
            f"{count} message(s) sent through Twilio",
            hang_seconds=timeout,
        )
        return list(self.messages)

    async def report_status(
        self, message: SentMessage, status: str, *, deliver_to: str, error_code: str | None = None
    ) -> httpx.Response:
        """POST a status callback for `message`, signed for its StatusCallback URL, to `deliver_to`
        (the app's real address: the callback URL is the public one, in front of a proxy)."""
        assert message.status_callback, "the message was sent without a StatusCallback"
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_,
            "To": message.to,
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "MessageStatus": status,
            "SmsStatus": status,
        }
        if error_code:
            params["ErrorCode"] = error_code
        headers = {"X-Twilio-Signature": self.sign(message.status_callback, params)}
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(deliver_to, data=params, headers=headers)

    # --- the API ---------------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def _error(self, error: FakeError) -> JSONResponse:
        return JSONResponse(
            {
                "code": error.code,
                "message": error.message,
                "more_info": f"https://www.twilio.com/docs/errors/{error.code}",
                "status": error.status,
            },
            status_code=error.status,
            headers=dict(error.headers),
        )

    async def _create_message(self, request: Request) -> Response:
        self.requests += 1
        if not self._authorised(request) or request.path_params["account"] != self.account_sid:
            return self._error(FakeError(401, 20003, "Authenticate"))
        if self.errors:
            return self._error(self.errors.pop(0))
        form = await request.form()
        to, from_, body = str(form.get("To", "")), str(form.get("From", "")), str(form.get("Body", ""))
        media_urls = tuple(str(url) for url in form.getlist("MediaUrl"))
        content_sid = str(form.get("ContentSid", "")) or None
        variables: dict[str, str] = json.loads(str(form.get("ContentVariables") or "{}"))
        whatsapp = from_.startswith(WHATSAPP_PREFIX)
        number = to.removeprefix(WHATSAPP_PREFIX) if whatsapp and to.startswith(WHATSAPP_PREFIX) else to
        if not number.lstrip("+").isdigit() or not number.startswith("+"):
            return self._error(INVALID_NUMBER)
        if from_ != (self.whatsapp_number if whatsapp else self.from_number):
            return self._error(FakeError(400, 21606, "The 'From' phone number provided is not valid"))
        if content_sid is not None:
            if content_sid not in self.templates:
                return self._error(FakeError(404, 20404, f"Content {content_sid} was not found"))
            body = self.templates[content_sid]
            for name, value in variables.items():
                body = body.replace("{{" + name + "}}", value)
        if not body and not media_urls:
            return self._error(FakeError(400, 21602, "Message body is required."))
        if len(body) > 1600:
            return self._error(
                FakeError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
            )
        if to in self.opted_out:
            return self._error(UNSUBSCRIBED)
        if whatsapp and content_sid is None and to not in self.open_windows:
            return self._error(OUTSIDE_WINDOW)
        sid = f"{'MM' if media_urls else 'SM'}{next(self._sid_numbers):032x}"
        callback = form.get("StatusCallback")
        message = SentMessage(
            sid,
            to,
            from_,
            body,
            str(callback) if callback else None,
            twilio_segments(body),
            time.monotonic(),
            content_sid=content_sid,
            content_variables=variables,
            media_urls=media_urls,
        )
        self.messages.append(message)
        now = format_datetime(datetime.now(UTC), usegmt=False)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        payload: dict[str, Any] = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": None,
            "num_media": str(len(media_urls)),
            "num_segments": str(message.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to,
            "uri": f"{uri}.json",
        }
        return JSONResponse(payload, status_code=201)

    async def _media(self, request: Request) -> Response:
        self.media_requests.append(MediaRequest(request.url.path, request.headers.get("Authorization")))
        if not self._authorised(request):
            return self._error(FakeError(401, 20003, "Authenticate"))
        media_sid = request.path_params["media"]
        if media_sid not in self.media:
            return self._error(FakeError(404, 20404, "The requested resource was not found"))
        # Like Twilio: the media URL redirects to short-lived storage.
        return RedirectResponse(f"{self.redirect_media_to or self.url}/storage/{media_sid}", status_code=307)

    async def _storage(self, request: Request) -> Response:
        self.media_requests.append(MediaRequest(request.url.path, request.headers.get("Authorization")))
        data, content_type = self.media[request.path_params["media"]]
        return Response(data, media_type=content_type)


@asynccontextmanager
async def run_fake_twilio(**knobs: Any) -> AsyncIterator[FakeTwilio]:
    """Serve a fake Twilio on a loopback port for the duration of the block."""
    fake = FakeTwilio(**knobs)
    async with serve_asgi(fake.app(), lifespan="off") as url:
        fake.url = url
        yield fake
