"""What a channel over Twilio's Messages API is, whatever the sender: SMS or WhatsApp.

Inbound messages are acknowledged with empty TwiML as soon as they are persisted, and answered later
through the REST API, since an answer can take longer than Twilio's 15 s webhook timeout. Webhooks
are refused unless Twilio signed them (against `COACH_PUBLIC_URL` + the path); status callbacks
become delivery reports. A subclass says how to read a message and how to send one.
"""

from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from fastapi import APIRouter, Request, Response
from twilio.rest import Client

from bot.foundation.messages import Attachment, IncomingMessage
from channels.base import (
    AttachmentError,
    Channel,
    ChannelStatus,
    DeliveryReport,
    MessageSink,
    SendError,
    TemporarySendError,
)
from channels.twilio.client import (
    UNSUBSCRIBED,
    TwilioHttpClient,
    TwilioRefusalError,
    create_message,
    rest_client,
    send_error,
)
from channels.twilio.media import download, is_twilio_hosted
from channels.twilio.signature import SIGNATURE_HEADER, is_signed_by_twilio, signed_url

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
FINAL_STATUSES = ("delivered", "undelivered", "failed")


@dataclass(frozen=True, slots=True)
class TwilioAccount:
    """The account a channel sends through and where Twilio calls it back."""

    account_sid: str
    auth_token: str
    api_url: str = "https://api.twilio.com"
    public_url: str = ""


class TwilioChannel(Channel):
    """A channel over Twilio's Messages API: its webhooks, REST client, errors and media.

    Subclasses set `webhook_path` and `status_path` and implement `parse` (a webhook's form as a
    message) and `send`, calling `create` for each Twilio message.
    """

    webhook_path: ClassVar[str]
    status_path: ClassVar[str]
    # Status callback error codes: what each means, and which mean the person cannot be reached.
    delivery_errors: ClassVar[Mapping[str, str]] = {}
    unreachable_codes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, account: TwilioAccount) -> None:
        self.account = account
        self._sink: MessageSink | None = None
        self._stopped = False
        self._client: Client | None = None
        self._http: TwilioHttpClient | None = None
        self._send_problem: str | None = None
        self._forged_since_valid = 0

    @abstractmethod
    def parse(self, form: Mapping[str, str], received_at: datetime) -> IncomingMessage | None:
        """An inbound webhook's form as a message; None when it is not one."""

    def received(self, message: IncomingMessage) -> None:
        """Called for each message a webhook delivers, once it is persisted (WhatsApp's window)."""

    def status_reported(self, form: Mapping[str, str]) -> None:
        """Called with each verified status callback, before it becomes a delivery report."""

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
            raise TemporarySendError(f"the {self.name} channel is stopping")
        if self._client is None:
            account = self.account
            self._client, self._http = rest_client(account.account_sid, account.auth_token, account.api_url)
        return self._client

    # --- sending ------------------------------------------------------------------------------

    @property
    def status_callback(self) -> str | None:
        """Where Twilio reports deliveries: only with a public URL it can reach."""
        return f"{self.account.public_url}{self.status_path}" if self.account.public_url else None

    async def create(self, params: Mapping[str, Any]) -> str:
        """Create one Twilio message (with the status callback), returning its SID.

        Refusals are raised as `TwilioRefusalError`s for `send_error` (or a channel's own reading).
        """
        callback = self.status_callback
        sid = await create_message(
            self._rest_client(), {**params, **({"status_callback": callback} if callback else {})}
        )
        self._send_problem = None
        return sid

    def send_error(self, failure: TwilioRefusalError) -> SendError:
        """A refusal as the outbox's error, remembering bad credentials for `status`."""
        if failure.bad_credentials:
            self._send_problem = f"Twilio refused the account credentials: {failure.reason}"
            log.error("%s: %s", self.name, self._send_problem)
        return send_error(failure)

    # --- receiving ----------------------------------------------------------------------------

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """Download message media, with the account's credentials when Twilio hosts it."""
        if not attachment.url:
            raise AttachmentError("the message did not say where the file is")
        auth = (
            (self.account.account_sid, self.account.auth_token)
            if is_twilio_hosted(attachment.url, self.account.api_url)
            else None
        )
        return await download(attachment.url, auth=auth, max_bytes=max_bytes)

    def router(self) -> APIRouter:
        """`POST <webhook_path>` (messages) and `POST <status_path>` (delivery reports)."""
        router = APIRouter(tags=["webhooks"])
        router.add_api_route(
            self.webhook_path, self._receive_webhook, methods=["POST"], include_in_schema=False
        )
        router.add_api_route(
            self.status_path, self._status_webhook, methods=["POST"], include_in_schema=False
        )
        return router

    async def _verified_form(self, request: Request, path: str) -> dict[str, str] | None:
        """The webhook's parameters when Twilio signed them, else None."""
        form = await request.form()
        url = signed_url(self.account.public_url, path, request.url.query, str(request.url))
        if not is_signed_by_twilio(
            self.account.auth_token, url, form, request.headers.get(SIGNATURE_HEADER, "")
        ):
            self._forged_since_valid += 1
            client = request.client.host if request.client else "?"
            log.warning(
                "%s webhook %s from %s: bad or missing %s (checked against %s)",
                self.name,
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
            return Response(f"{self.name} channel not running", status_code=503)
        form = await self._verified_form(request, self.webhook_path)
        if form is None:
            return Response("invalid signature", status_code=403)
        message = self.parse(form, datetime.now(UTC))
        if message is None:
            return Response("not an inbound message", status_code=400)
        try:
            accepted = await sink(message)
        except Exception:
            # Not acknowledged: Twilio records the failure (and retries where the webhook asks it to).
            log.exception("%s message %s could not be stored", self.name, message.message_id)
            return Response("could not store the message", status_code=500)
        self.received(message)
        if accepted.duplicate:
            log.info("%s %s received again; answered once", self.name, message.message_id)
        # Empty TwiML: the answer goes out later through the REST API, whatever it takes.
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def _status_webhook(self, request: Request) -> Response:
        form = await self._verified_form(request, self.status_path)
        if form is None:
            return Response("invalid signature", status_code=403)
        self.status_reported(form)
        sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
        if sid and status in FINAL_STATUSES and self.delivery_reports is not None:
            code = form.get("ErrorCode") or ""
            error = f"{code} {self.delivery_errors.get(code, 'delivery failed')}" if code else None
            report = DeliveryReport(
                self.name,
                sid,
                status,
                error=error,
                recipient_unreachable=code in self.unreachable_codes or code == str(UNSUBSCRIBED),
                opted_out=code == str(UNSUBSCRIBED),
            )
            # A quick callback can overtake the outbox marking the message sent: give it a moment.
            for _ in range(3):
                if await self.delivery_reports(report):
                    break
                await asyncio.sleep(0.5)
            else:
                log.info("%s status %s for unknown message %s", self.name, status, sid)
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
        if self.account.public_url:
            webhook = f"webhook {self.account.public_url}{self.webhook_path}"
        else:
            webhook = (
                f"webhook POST {self.webhook_path}; COACH_PUBLIC_URL unset, so signatures are checked "
                "against the URL this server sees (fails behind a proxy) and no delivery reports are asked for"
            )
        return ChannelStatus("real", f"{self.describe_sender()}, {webhook}")

    def describe_sender(self) -> str:
        """The sender and its pace, for `status`."""
        return self.name
