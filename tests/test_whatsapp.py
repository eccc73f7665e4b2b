"""The WhatsApp channel over Twilio: the real inbound bodies, a chat, a document upload and program steps
in a running service against the fake Twilio (driven by the real twilio client), the 24-hour window
with and without an approved template, media out, and SMS beside it or not."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from bot.app import create_app
from bot.foundation.clock import FakeClock
from bot.foundation.messages import ConversationReference, OutgoingMessage
from bot.foundation.tables import OutboxMessage
from bot.models import InboxMessage
from bot.runtime import Coachline
from channels.base import DeliveryReport, PermanentSendError
from channels.registry import build_channels
from channels.sms.settings import SmsSettings
from channels.twilio.channel import EMPTY_TWIML, TwilioAccount
from channels.whatsapp.adapter import WEBHOOK_PATH, WhatsAppChannel, WhatsAppConfig
from channels.whatsapp.session import Window
from channels.whatsapp.settings import WhatsAppSettings
from coaching.fake_generator import ScriptedGenerator
from config import Settings
from tests.conftest import ADMIN_KEY
from tests.fakes.twilio_server import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    WHATSAPP_NUMBER,
    FakeTwilio,
    run_fake_twilio,
)
from tests.support.asgi_server import serve_asgi
from tests.support.documents import long_text
from tests.support.people import known_person
from tests.support.settle import settled
from tests.support.shared_fixtures import shared_fixture

PUBLIC_URL = "https://coach.example.com"
CLIENT = "+31612345678"  # the sender of the real inbound fixtures
CREATOR = "+15550002222"
TEMPLATE_SID = "HX" + "b" * 32
TEMPLATE = "Your coach has a message for you: {{1}} (reply to keep chatting)"


def _fixture(name: str) -> dict[str, str]:
    path = shared_fixture(
        "payloads", "twilio", f"botbuilder_community_whatsapp_inbound_{name}.form-urlencoded.txt"
    )
    return dict(parse_qsl(path.read_text().strip(), keep_blank_values=True))


def inbound(body: str, *, sender: str = CLIENT, **extra: str) -> dict[str, str]:
    """An inbound WhatsApp message's parameters, shaped like Twilio's (with WhatsApp's own fields)."""
    sid = f"SM{uuid.uuid4().hex}"
    return {
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ProfileName": "Sam",
        "SmsSid": sid,
        "WaId": sender.lstrip("+"),
        "SmsStatus": "received",
        "Body": body,
        "To": WHATSAPP_NUMBER,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:{sender}",
        "ApiVersion": "2010-04-01",
        **extra,
    }


@dataclass
class WhatsApp:
    """A running service with the WhatsApp channel, its HTTP address, and the fake Twilio."""

    service: Coachline
    channel: WhatsAppChannel
    twilio: FakeTwilio
    url: str
    api: httpx.AsyncClient

    async def post(self, params: dict[str, str]) -> httpx.Response:
        """Deliver an inbound webhook as Twilio does (signed for the public URL)."""
        return await self.twilio.send_inbound(
            params, signed_for=f"{PUBLIC_URL}{WEBHOOK_PATH}", deliver_to=f"{self.url}{WEBHOOK_PATH}"
        )

    async def settle(self) -> None:
        """Wait until every received message is answered and every queued message sent or failed."""
        await settled(self.service, timeout=60)

    async def outbox(self) -> list[OutboxMessage]:
        """Every outbox row, oldest first."""
        async with self.service.sessions() as session:
            return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    async def enrol_in_a_one_step_program(self, text: str) -> None:
        """A program whose first step says `text`, and CLIENT enrolled in it over REST."""
        program = await self.api.post(
            "/api/v1/creators/programs/",
            json={
                "title": "Hydrate",
                "steps": [
                    {
                        "step_name": "drink",
                        "step_type": "MESSAGE",
                        "action_config": {"message_template": text},
                    }
                ],
            },
        )
        assert program.status_code in (200, 201), program.text
        await known_person(self.service, "whatsapp", CLIENT)  # only people who talked to the twin
        enrolled = await self.api.post(
            f"/api/v1/creators/programs/{program.json()['id']}/enrollments",
            json={"channel": "whatsapp", "user_id": CLIENT},
        )
        assert enrolled.status_code in (200, 201), enrolled.text


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    """The fake Twilio, with one approved template."""
    async with run_fake_twilio(templates={TEMPLATE_SID: TEMPLATE}) as fake:
        yield fake


@pytest.fixture
def run_whatsapp(
    make_service: Callable[..., Coachline], make_settings: Callable[..., Settings], twilio: FakeTwilio
) -> Callable[..., AbstractAsyncContextManager[WhatsApp]]:
    """Start a service whose channels are built from settings: WhatsApp (plus `own` settings)."""

    @asynccontextmanager
    async def run(*, generator: ScriptedGenerator | None = None, **own: Any) -> AsyncIterator[WhatsApp]:
        values = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_url": twilio.url}
        whatsapp = WhatsAppSettings.of(**values, whatsapp_from_number=WHATSAPP_NUMBER, **own)
        core = {"public_url": PUBLIC_URL, "admins": [f"whatsapp:{CREATOR}"]}
        channels = build_channels(
            make_settings(**core),
            channel_settings={"whatsapp": whatsapp, "sms": SmsSettings.of(**values)},
        )
        assert set(channels) == {"web", "whatsapp"}  # SMS stays off: no TWILIO_FROM_NUMBER
        channel = channels["whatsapp"]
        assert isinstance(channel, WhatsAppChannel)
        service = make_service(channels=channels, generator=generator or ScriptedGenerator(), **core)
        async with (
            serve_asgi(create_app(service)) as url,
            httpx.AsyncClient(
                base_url=url, timeout=15, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
            ) as api,
        ):
            yield WhatsApp(service, channel, twilio, url, api)

    return run


# --- the real inbound bodies ---------------------------------------------------------------------


def test_the_real_inbound_bodies_are_read() -> None:
    text, image = _fixture("text"), _fixture("image_mms")
    channel = WhatsAppChannel(WhatsAppConfig(TwilioAccount(ACCOUNT_SID, AUTH_TOKEN), WHATSAPP_NUMBER))
    now = FakeClock().now()

    message = channel.parse(text, now)
    picture = channel.parse(image, now)

    assert message is not None and picture is not None
    assert (message.channel, message.user_id, message.text) == ("whatsapp", CLIENT, "test")
    assert message.conversation == ConversationReference("whatsapp", CLIENT)
    assert message.message_id == "SM892512e202b34d4109b10a3893fa9640"
    (attachment,) = picture.attachments
    assert (attachment.kind, attachment.mime_type) == ("image", "image/jpeg")
    assert attachment.url == image["MediaUrl0"] and picture.text == ""


async def test_a_real_inbound_body_is_answered_in_the_chat(
    run_whatsapp: Callable[..., AbstractAsyncContextManager[WhatsApp]],
) -> None:
    raw = _fixture("text")
    async with run_whatsapp() as whatsapp:
        raw.update(AccountSid=ACCOUNT_SID, To=WHATSAPP_NUMBER)

        response = await whatsapp.post(raw)

        assert response.status_code == 200 and response.text == EMPTY_TWIML
        (reply,) = await whatsapp.twilio.wait_for_messages(1)
        assert (reply.to, reply.from_, reply.body) == (f"whatsapp:{CLIENT}", WHATSAPP_NUMBER, "echo: test")
        assert reply.content_sid is None  # free-form: the person just wrote
        assert reply.status_callback == f"{PUBLIC_URL}/webhooks/whatsapp/status"


# --- a chat, an upload and a program step in a running service -------------------------------------


async def test_a_chat_runs_over_whatsapp(
    run_whatsapp: Callable[..., AbstractAsyncContextManager[WhatsApp]],
) -> None:
    async with run_whatsapp() as whatsapp:
        assert (await whatsapp.post(inbound("/start"))).status_code == 200
        await whatsapp.settle()
        assert (await whatsapp.post(inbound("How do I sleep better?"))).status_code == 200
        await whatsapp.settle()

    bodies = [message.body for message in whatsapp.twilio.messages]
    assert len(bodies) == 2 and bodies[-1] == "echo: How do I sleep better?"
    assert all(message.to == f"whatsapp:{CLIENT}" for message in whatsapp.twilio.messages)
    async with whatsapp.service.sessions() as session:
        names = set(await session.scalars(select(InboxMessage.sender_name)))
    assert names == {"Sam"}  # WhatsApp's ProfileName


async def test_a_creators_document_sent_on_whatsapp_is_learned(
    run_whatsapp: Callable[..., AbstractAsyncContextManager[WhatsApp]],
) -> None:
    data = long_text(4_000)
    async with run_whatsapp() as whatsapp:
        sid = f"MM{uuid.uuid4().hex}"
        media_url = whatsapp.twilio.add_media(sid, data, "text/plain")
        params = inbound(
            "", sender=CREATOR, NumMedia="1", MediaContentType0="text/plain", MediaUrl0=media_url
        )
        params.update(MessageSid=sid, SmsMessageSid=sid, SmsSid=sid)

        assert (await whatsapp.post(params)).status_code == 200
        await whatsapp.settle()

        name = f"whatsapp-{sid}-0.txt"
        assert whatsapp.service.default_creator is not None
        documents = await whatsapp.service.knowledge.documents(whatsapp.service.default_creator.id)
    assert [document.filename for document in documents] == [name]
    assert whatsapp.twilio.messages[-1].body.startswith("Learned ")
    download = whatsapp.twilio.media_requests[0]
    assert download.authorization is not None and download.authorization.startswith("Basic ")


async def test_a_program_step_within_the_window_goes_free_form(
    run_whatsapp: Callable[..., AbstractAsyncContextManager[WhatsApp]],
) -> None:
    async with run_whatsapp(template_sid=TEMPLATE_SID) as whatsapp:
        await whatsapp.post(inbound("hi"))  # the person wrote: the window is open
        await whatsapp.settle()

        await whatsapp.enrol_in_a_one_step_program("Drink a glass of water.")
        await whatsapp.settle()

    step = whatsapp.twilio.messages[-1]
    assert (step.body, step.content_sid) == ("Drink a glass of water.", None)


async def test_a_program_step_outside_the_window_goes_as_the_approved_template(
    run_whatsapp: Callable[..., AbstractAsyncContextManager[WhatsApp]],
) -> None:
    async with run_whatsapp(template_sid=TEMPLATE_SID) as whatsapp:
        await whatsapp.enrol_in_a_one_step_program("Drink a glass of water.")
        await whatsapp.settle()
        (row,) = await whatsapp.outbox()

    (step,) = whatsapp.twilio.messages
    assert step.content_sid == TEMPLATE_SID
    assert step.content_variables == {"1": "Drink a glass of water."}
    assert step.body == TEMPLATE.replace("{{1}}", "Drink a glass of water.")
    assert row.status == "sent"


async def test_without_a_template_a_step_outside_the_window_fails_saying_why(
    run_whatsapp: Callable[..., AbstractAsyncContextManager[WhatsApp]],
) -> None:
    async with run_whatsapp() as whatsapp:
        await whatsapp.enrol_in_a_one_step_program("Drink a glass of water.")
        await whatsapp.settle()
        (row,) = await whatsapp.outbox()

    assert whatsapp.twilio.messages == []  # Twilio refused the free-form message (63016)
    assert row.status == "failed"
    assert row.last_error is not None
    assert "24-hour window" in row.last_error and "WHATSAPP_TEMPLATE_SID" in row.last_error


# --- the window, media out and settings at the adapter ---------------------------------------------


@pytest.fixture
async def make_channel(twilio: FakeTwilio) -> AsyncIterator[Callable[..., WhatsAppChannel]]:
    """Started WhatsApp channels on the fake, with an injected clock; stopped afterwards."""
    made: list[WhatsAppChannel] = []

    async def sink(message: Any) -> Any:
        raise AssertionError("no webhook in these tests")

    def make(clock: FakeClock, **config: Any) -> WhatsAppChannel:
        channel = WhatsAppChannel(
            WhatsAppConfig(
                TwilioAccount(ACCOUNT_SID, AUTH_TOKEN, twilio.url, PUBLIC_URL), WHATSAPP_NUMBER, **config
            ),
            now=clock.now,
        )
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.stop()


def _to(text: str, **extra: Any) -> OutgoingMessage:
    return OutgoingMessage(ConversationReference("whatsapp", CLIENT), text, **extra)


async def test_a_window_known_closed_goes_straight_to_the_template(
    make_channel: Callable[..., WhatsAppChannel], twilio: FakeTwilio
) -> None:
    clock = FakeClock()
    channel = make_channel(clock, template_sid=TEMPLATE_SID)
    twilio.open_windows.add(f"whatsapp:{CLIENT}")
    channel.windows.wrote(CLIENT)

    await channel.send(_to("Day 1: walk."))
    clock.advance(timedelta(hours=25).total_seconds())
    twilio.close_window(f"whatsapp:{CLIENT}")
    await channel.send(_to("Day 2: walk further."))

    first, second = twilio.messages
    assert (first.body, first.content_sid) == ("Day 1: walk.", None)
    assert second.content_sid == TEMPLATE_SID and second.content_variables == {"1": "Day 2: walk further."}
    assert twilio.requests == 2  # no free-form attempt was wasted on the closed window


async def test_a_window_known_closed_without_a_template_fails_without_calling_twilio(
    make_channel: Callable[..., WhatsAppChannel], twilio: FakeTwilio
) -> None:
    clock = FakeClock()
    channel = make_channel(clock)
    channel.windows.wrote(CLIENT)
    clock.advance(timedelta(hours=24).total_seconds())

    with pytest.raises(PermanentSendError, match="WHATSAPP_TEMPLATE_SID"):
        await channel.send(_to("Day 2"))
    assert twilio.requests == 0


async def test_a_reply_always_goes_free_form(
    make_channel: Callable[..., WhatsAppChannel], twilio: FakeTwilio
) -> None:
    channel = make_channel(FakeClock(), template_sid=TEMPLATE_SID)
    twilio.open_windows.add(f"whatsapp:{CLIENT}")

    await channel.send(_to("Here is your answer.", reply_to_message_id="SM1"))

    assert [(m.body, m.content_sid) for m in twilio.messages] == [("Here is your answer.", None)]


async def test_media_goes_out_one_file_a_message(
    make_channel: Callable[..., WhatsAppChannel], twilio: FakeTwilio
) -> None:
    channel = make_channel(FakeClock())
    twilio.open_windows.add(f"whatsapp:{CLIENT}")
    files = ("https://coach.example.com/files/plan.pdf", "https://coach.example.com/files/chart.png")

    result = await channel.send(_to("Your plan and chart:", media_urls=files))

    text, plan, chart = twilio.messages
    assert (text.body, text.media_urls) == ("Your plan and chart:", ())
    assert (plan.media_urls, chart.media_urls) == (files[:1], files[1:])
    assert result.platform_message_id == chart.sid
    assert channel.send_cost(_to("x", media_urls=files)) == 3


async def test_a_long_template_variable_is_cut_at_a_sentence(
    make_channel: Callable[..., WhatsAppChannel], twilio: FakeTwilio
) -> None:
    channel = make_channel(FakeClock(), template_sid=TEMPLATE_SID)

    await channel.send(_to("A short sentence here. " * 80))

    (message,) = twilio.messages
    variable = message.content_variables["1"]
    assert len(variable) <= 1024 and variable.endswith("here.…")


def test_whatsapp_settings(make_settings: Callable[..., Settings]) -> None:
    bare = WhatsAppSettings.of(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, whatsapp_from_number="+14155238886"
    )
    both = build_channels(
        make_settings(),
        channel_settings={
            "whatsapp": bare,
            "sms": SmsSettings.of(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number=FROM_NUMBER),
        },
    )

    assert bare.whatsapp_from_number == "whatsapp:+14155238886"  # the prefix Twilio wants is added
    assert {"sms", "whatsapp"} <= set(both)  # SMS and WhatsApp run together on one account
    assert bare.missing() == [] and WhatsAppSettings.of().missing() == [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "WHATSAPP_FROM_NUMBER",
    ]
    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN"):
        WhatsAppSettings.of(whatsapp_from_number="whatsapp:+14155238886")
    with pytest.raises(ValueError, match="content SID"):
        WhatsAppSettings.of(WHATSAPP_TEMPLATE_SID="my-template")


async def test_a_63016_status_callback_closes_the_window_and_reports_why(
    make_channel: Callable[..., WhatsAppChannel], twilio: FakeTwilio
) -> None:
    channel = make_channel(FakeClock())
    channel.windows.wrote(CLIENT)
    reports: list[DeliveryReport] = []

    async def record(report: DeliveryReport) -> bool:
        reports.append(report)
        return True

    channel.delivery_reports = record
    app = FastAPI()
    app.include_router(channel.router())
    params = {
        "MessageSid": "SM1",
        "MessageStatus": "undelivered",
        "ErrorCode": "63016",
        "To": f"whatsapp:{CLIENT}",
        "From": WHATSAPP_NUMBER,
    }
    url = f"{PUBLIC_URL}/webhooks/whatsapp/status"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        response = await http.post(
            "/webhooks/whatsapp/status", data=params, headers={"X-Twilio-Signature": twilio.sign(url, params)}
        )

    assert response.status_code == 204
    assert channel.windows.state(CLIENT) is Window.CLOSED
    (report,) = reports
    assert report.status == "undelivered" and report.error is not None and "24-hour window" in report.error
