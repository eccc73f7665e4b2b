"""The SMS channel: Twilio webhooks in, the Twilio REST API (through the `twilio` library) out.

Inbound messages are acknowledged with empty TwiML as soon as they are persisted, and answered later
through the REST API, since an answer can take longer than Twilio's 15 s webhook timeout. Sends are
paced by SMS segment (`send_cost`), a reply too long for one message goes as several, and Twilio's
error 21610 (the number texted STOP) marks the person opted out.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from fastapi import APIRouter, Request, Response
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from channels.base import (
    AttachmentError,
    Channel,
    ChannelLimits,
    ChannelStatus,
    DeliveryReport,
    MessageSink,
    PermanentSendError,
    RecipientUnreachableError,
    SendError,
    SendResult,
    TemporarySendError,
)
from channels.messages import Attachment, OutgoingMessage
from channels.sms.formatting import SmsText, render
from channels.sms.inbound import CHANNEL, SIGNATURE_HEADER, is_signed_by_twilio, signed_url, to_incoming
from channels.sms.media import download, is_twilio_hosted
from channels.sms.segments import MAX_MESSAGE_UNITS
from config import Settings

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/sms"
STATUS_PATH = "/webhooks/sms/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
REQUEST_TIMEOUT_SECONDS = 30.0

# Twilio error codes (https://www.twilio.com/docs/api/errors).
UNSUBSCRIBED = 21610  # the recipient texted STOP: Twilio refuses every send until they text START
RATE_LIMITED = (20429, 21611)  # too many requests; the sender's queue is full
AUTHENTICATION = (20003,)
UNREACHABLE_NUMBERS = ("30005", "30006")  # unknown handset; landline or unreachable carrier
FINAL_STATUSES = ("delivered", "undelivered", "failed")
DELIVERY_ERRORS = {
    "21610": "the recipient opted out (STOP)",
    "30003": "unreachable handset",
    "30004": "message blocked",
    "30005": "unknown handset",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier",
    "30008": "unknown error",
}
# How long an unfinished multi-part send remembers the parts already accepted (see `_PartsSent`).
PARTS_MEMORY_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class SmsConfig:
    """What the SMS channel needs from the settings."""

    account_sid: str
    auth_token: str
    from_number: str
    api_url: str = "https://api.twilio.com"
    public_url: str = ""
    segments_per_second: float = 1.0
    max_segments: int = 10
    reply_chars: int = 480

    @classmethod
    def from_settings(cls, settings: Settings) -> SmsConfig:
        """The channel's settings (TWILIO_*, SMS_*, COACH_PUBLIC_URL)."""
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            from_number=settings.twilio_from_number,
            api_url=settings.twilio_api_url,
            public_url=settings.public_url,
            segments_per_second=settings.sms_segments_per_second,
            max_segments=settings.sms_max_segments,
            reply_chars=settings.sms_reply_chars,
        )


# The responses of the REST calls made by the current task, so that a 429's Retry-After header
# (which `TwilioRestException` does not carry) can be read. A context variable: sends run concurrently.
_responses: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "twilio_responses", default=None
)


class _TwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """twilio's aiohttp client with a request timeout, remembering responses for `_responses`."""

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


class _PartsSent:
    """Which parts of a multi-part message Twilio already accepted, so a retry sends only the rest.

    Kept in memory: a retry that lands on another instance, or after a restart, sends those parts
    again (at most the parts of one message, once).
    """

    def __init__(self) -> None:
        self._sent: dict[tuple[str, tuple[str, ...]], tuple[int, str, float]] = {}

    def get(self, key: tuple[str, tuple[str, ...]]) -> tuple[int, str | None]:
        count, sid, _ = self._sent.get(key, (0, "", 0.0))
        return count, sid or None

    def record(self, key: tuple[str, tuple[str, ...]], count: int, sid: str) -> None:
        now = time.monotonic()
        self._sent[key] = (count, sid, now)
        for stale in [k for k, (_, _, at) in self._sent.items() if now - at > PARTS_MEMORY_SECONDS]:
            del self._sent[stale]

    def forget(self, key: tuple[str, tuple[str, ...]]) -> None:
        self._sent.pop(key, None)


class SmsChannel(Channel):
    """SMS and MMS through Twilio."""

    name = CHANNEL

    def __init__(self, config: SmsConfig) -> None:
        self.config = config
        self.limits = ChannelLimits(
            overall_rate=config.segments_per_second,  # one sending number: its rate is the channel's
            per_chat_rate=None,
            max_message_chars=MAX_MESSAGE_UNITS,
            supports_buttons=False,
            reply_chars_target=config.reply_chars,
        )
        self._sink: MessageSink | None = None
        self._stopped = False
        self._client: Client | None = None
        self._http: _TwilioHttpClient | None = None
        self._parts_sent = _PartsSent()
        self._send_problem: str | None = None
        self._forged_since_valid = 0

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, sink: MessageSink) -> None:
        """Keep the sink for the webhooks and open the REST client."""
        self._sink = sink
        self._stopped = False
        self._rest_client()

    async def stop(self) -> None:
        """Stop taking webhooks and close the REST client's connections."""
        self._sink = None
        self._stopped = True
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()

    def _rest_client(self) -> Client:
        # Made inside the running loop: aiohttp sessions belong to one.
        if self._stopped:
            # The service stops channels before its last sends finish: those are retried after a restart.
            raise TemporarySendError("the SMS channel is stopping")
        if self._client is None:
            self._http = _TwilioHttpClient(REQUEST_TIMEOUT_SECONDS)
            client = Client(self.config.account_sid, self.config.auth_token, http_client=self._http)
            client.api.base_url = self.config.api_url.rstrip("/")
            self._client = client
        return self._client

    # --- sending ------------------------------------------------------------------------------

    def render(self, message: OutgoingMessage) -> SmsText:
        """The message as the SMS text that will be sent, within `SMS_MAX_SEGMENTS`."""
        return render(message, max_segments=self.config.max_segments)

    def send_cost(self, message: OutgoingMessage) -> int:
        """The SMS segments the message will use: what the outbox paces the sending number by."""
        return max(1, self.render(message).segments)

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Send the message as one Twilio message, or several in order when it is over 1,600 characters.

        Returns the SID of the last part: its status callback is the one stored on the outbox row.
        """
        parts = self.render(message).parts
        if not parts:
            raise PermanentSendError("nothing to send: the message is empty")
        to = message.conversation.chat_id
        key = (to, parts)
        already, last_sid = self._parts_sent.get(key)
        for index in range(already, len(parts)):
            last_sid = await self._create(to, parts[index])
            if index + 1 < len(parts):
                self._parts_sent.record(key, index + 1, last_sid)
        self._parts_sent.forget(key)
        return SendResult(platform_message_id=last_sid)

    async def _create(self, to: str, body: str) -> str:
        client = self._rest_client()
        responses: list[Any] = []
        token = _responses.set(responses)
        status_callback = f"{self.config.public_url}{STATUS_PATH}" if self.config.public_url else None
        try:
            created = await client.messages.create_async(
                to=to,
                from_=self.config.from_number,
                body=body,
                **({"status_callback": status_callback} if status_callback else {}),
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            raise self._send_error(exc, _retry_after(responses)) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TemporarySendError(f"Twilio did not answer: {type(exc).__name__}: {exc}") from exc
        finally:
            _responses.reset(token)
        self._send_problem = None
        return str(created.sid)

    def _send_error(
        self, exc: TwilioRestException | TwilioServiceException, retry_after: float | None
    ) -> SendError:
        status = int(exc.status or 0)
        code = int(exc.code) if exc.code is not None else None
        detail = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
        reason = f"Twilio error {code} (HTTP {status}): {detail}"
        if code == UNSUBSCRIBED:
            return RecipientUnreachableError(reason, opted_out=True)
        if status == 429 or code in RATE_LIMITED or status >= 500:
            return TemporarySendError(reason, retry_after=retry_after)
        if status in (401, 403) or code in AUTHENTICATION:
            self._send_problem = f"Twilio refused the account credentials: {reason}"
            log.error("SMS: %s", self._send_problem)
        return PermanentSendError(reason)

    # --- receiving ----------------------------------------------------------------------------

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """Download MMS media, with the account's credentials when Twilio hosts it."""
        if not attachment.url:
            raise AttachmentError("the message did not say where the file is")
        auth = (
            (self.config.account_sid, self.config.auth_token)
            if is_twilio_hosted(attachment.url, self.config.api_url)
            else None
        )
        return await download(attachment.url, auth=auth, max_bytes=max_bytes)

    def router(self) -> APIRouter:
        """`POST /webhooks/sms` (messages) and `POST /webhooks/sms/status` (delivery reports)."""
        router = APIRouter(tags=["webhooks"])
        router.add_api_route(WEBHOOK_PATH, self._receive_webhook, methods=["POST"], include_in_schema=False)
        router.add_api_route(STATUS_PATH, self._status_webhook, methods=["POST"], include_in_schema=False)
        return router

    async def _verified_form(self, request: Request, path: str) -> dict[str, str] | None:
        """The webhook's parameters when Twilio signed them, else None."""
        form = await request.form()
        url = signed_url(self.config.public_url, path, request.url.query, str(request.url))
        if not is_signed_by_twilio(
            self.config.auth_token, url, form, request.headers.get(SIGNATURE_HEADER, "")
        ):
            self._forged_since_valid += 1
            client = request.client.host if request.client else "?"
            log.warning(
                "SMS webhook %s from %s: bad or missing %s (checked against %s)",
                path,
                client,
                SIGNATURE_HEADER,
                url,
            )
            return None
        self._forged_since_valid = 0
        return {key: str(value) for key, value in form.items()}

    async def _receive_webhook(self, request: Request) -> Response:
        sink = self._sink
        if sink is None:
            return Response("SMS channel not running", status_code=503)
        form = await self._verified_form(request, WEBHOOK_PATH)
        if form is None:
            return Response("invalid signature", status_code=403)
        message = to_incoming(form, datetime.now(UTC))
        if message is None:
            return Response("not an inbound message", status_code=400)
        accepted = await sink(message)
        if accepted.duplicate:
            log.info("SMS %s received again; answered once", message.message_id)
        # Empty TwiML: the answer goes out later through the REST API, whatever it takes.
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def _status_webhook(self, request: Request) -> Response:
        form = await self._verified_form(request, STATUS_PATH)
        if form is None:
            return Response("invalid signature", status_code=403)
        sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
        if sid and status in FINAL_STATUSES and self.delivery_reports is not None:
            code = form.get("ErrorCode") or ""
            error = f"{code} {DELIVERY_ERRORS.get(code, 'delivery failed')}" if code else None
            report = DeliveryReport(
                CHANNEL,
                sid,
                status,
                error=error,
                recipient_unreachable=code in UNREACHABLE_NUMBERS or code == str(UNSUBSCRIBED),
                opted_out=code == str(UNSUBSCRIBED),
            )
            # A quick callback can overtake the outbox marking the message sent: give it a moment.
            for _ in range(3):
                if await self.delivery_reports(report):
                    break
                await asyncio.sleep(0.5)
            else:
                log.info("SMS status %s for unknown message %s", status, sid)
        return Response(status_code=204)

    def status(self) -> ChannelStatus:
        """Whether sending works and webhooks verify, and where Twilio should call."""
        if self._send_problem:
            return ChannelStatus("degraded", self._send_problem)
        if self._forged_since_valid:
            return ChannelStatus(
                "degraded",
                f"{self._forged_since_valid} webhook request(s) failed the signature check since the last "
                "good one: COACH_PUBLIC_URL must be the base URL Twilio calls",
            )
        if self.config.public_url:
            webhook = f"webhook {self.config.public_url}{WEBHOOK_PATH}"
        else:
            webhook = (
                f"webhook POST {WEBHOOK_PATH}; COACH_PUBLIC_URL unset, so signatures are checked against the "
                "URL this server sees (fails behind a proxy) and no delivery reports are asked for"
            )
        return ChannelStatus(
            "real",
            f"Twilio number {self.config.from_number}, {webhook}, "
            f"{self.config.segments_per_second:g} segment(s)/s",
        )


def _retry_after(responses: list[Any]) -> float | None:
    """The Retry-After (seconds) of the last response, if it sent one."""
    if not responses or not responses[-1].headers:
        return None
    value = responses[-1].headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
