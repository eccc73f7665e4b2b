"""The Telegram channel end to end: the real python-telegram-bot against a fake Bot API server.

Long polling and webhooks, groups, buttons, file uploads, long replies, flood control (429),
blocked users (403) and redeliveries, through a running Coachline where it matters.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.foundation.clock import FakeClock
from bot.foundation.messages import Button, ConversationReference, IncomingMessage, OutgoingMessage
from bot.foundation.tables import ChannelAccount, OutboxMessage
from bot.models import InboxMessage
from bot.runtime import Coachline
from channels.base import (
    Accepted,
    AttachmentError,
    PermanentSendError,
    RecipientUnreachableError,
    SendError,
    TemporarySendError,
)
from channels.registry import build_channels
from channels.telegram.adapter import TelegramChannel
from channels.telegram.settings import TelegramSettings
from coaching.fake_generator import ScriptedGenerator
from config import Settings
from tests.fakes.telegram_server import (
    FakeTelegram,
    blocked,
    chat_not_found,
    flood,
    run_fake_telegram,
)
from tests.support.asgi_server import serve_asgi
from tests.support.channel_settings import own_settings
from tests.support.documents import guide_docx
from tests.support.gated import GatedGenerator
from tests.support.payloads import (
    TELEGRAM_SECRET_HEADER,
    TELEGRAM_USER_ID,
    telegram_callback_update,
    telegram_document,
    telegram_document_update,
    telegram_group_update,
    telegram_text_update,
)
from tests.support.settle import settled
from tests.support.waiting import HANG_SECONDS, until

# python-telegram-bot 22's own RetryAfter.__init__ reads its deprecated int `retry_after` and warns
# (the default filters hide it outside tests); the channel reads it in either form.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*attribute `retry_after` will be of type:telegram.warnings.PTBDeprecationWarning"
)

USER = TELEGRAM_USER_ID
SECRET_HEADER = TELEGRAM_SECRET_HEADER
SECRET = "DEADBEEF12345678DEADBEEF87654321"
WRONG_SECRET = "AAAABBBBCCCCDDDDEEEEFFFF00009999"
DOCX = guide_docx()


def private_update() -> dict[str, Any]:
    """ "Hi, world!" from user (and private chat) 12345678, update 123456789."""
    return telegram_text_update("Hi, world!", update_id=123456789, message_id=11223)


def group_update(
    text: str, *, update_id: int = 500, entities: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A group message (the tests of the parser cover mentions and replies in detail)."""
    return telegram_group_update(text, update_id=update_id, entities=entities)


ServiceFactory = Callable[..., AbstractAsyncContextManager[Coachline]]


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """The fake Bot API server."""
    async with run_fake_telegram() as fake:
        yield fake


@pytest.fixture
def telegram_service(
    make_service: Callable[..., Coachline], make_settings: Callable[..., Settings], telegram: FakeTelegram
) -> ServiceFactory:
    """Start a Coachline whose only channel is Telegram, pointed at the fake server."""

    @asynccontextmanager
    async def running(
        *, generator: ScriptedGenerator | None = None, clock: FakeClock | None = None, **settings: Any
    ) -> AsyncIterator[Coachline]:
        values = {"telegram_bot_token": telegram.token, "telegram_api_url": telegram.url} | settings
        channel = TelegramChannel.from_settings(
            make_settings(**values), own_settings(TelegramSettings, values, "telegram_")
        )
        service = make_service(
            channels={"telegram": channel}, generator=generator or ScriptedGenerator(), clock=clock, **values
        )
        await service.start()
        try:
            yield service
        finally:
            await service.stop()

    return running


@asynccontextmanager
async def started_channel(
    telegram: FakeTelegram, **options: Any
) -> AsyncIterator[tuple[TelegramChannel, list[IncomingMessage]]]:
    """The channel alone, handing what it receives to a list."""
    received: list[IncomingMessage] = []

    async def sink(message: IncomingMessage) -> Accepted:
        received.append(message)
        return Accepted(len(received), duplicate=False)

    channel = TelegramChannel(telegram.token, api_url=telegram.url, **options)
    await channel.start(sink)
    try:
        yield channel, received
    finally:
        await channel.stop()


async def _inbox_count(service: Coachline) -> int:
    async with service.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(InboxMessage)) or 0)


async def _confirmed(telegram: FakeTelegram, update_id: int) -> None:
    """Wait until the channel confirmed `update_id` (asked from past it): it handed it to the sink."""

    def asked_past() -> bool:
        return any(int(call.get("offset") or 0) > update_id for call in telegram.calls_of("getUpdates"))

    await until(asked_past, f"update {update_id} to be confirmed")


def _docx_update(*, file_size: int | None = len(DOCX)) -> dict[str, Any]:
    """ "Read my document" with test.docx, as a private message."""
    file = telegram_document("test.docx", file_size=file_size)
    return telegram_document_update(file, caption="Read my document", update_id=123456790)


# --- long polling, private chats ---------------------------------------------------------------------


async def test_a_private_message_is_answered_over_long_polling(
    telegram: FakeTelegram, telegram_service: ServiceFactory
) -> None:
    async with telegram_service():
        telegram.queue_update(private_update())

        [reply] = await telegram.wait_for("sendMessage")

    assert reply["chat_id"] == USER
    assert reply["text"] == "echo: Hi, world!"
    assert "reply_parameters" not in reply  # private chats need no quote
    methods = [call.method for call in telegram.calls]
    assert methods[:2] == ["getMe", "deleteWebhook"]
    assert "getUpdates" in methods


async def test_typing_is_shown_while_a_slow_answer_is_written(
    telegram: FakeTelegram, telegram_service: ServiceFactory
) -> None:
    model = GatedGenerator()
    async with telegram_service(generator=model):
        telegram.queue_update(private_update())
        [action] = await telegram.wait_for("sendChatAction")  # the answer is held: it is taking time
        model.release()
        await telegram.wait_for("sendMessage")

    assert action == {"chat_id": USER, "action": "typing"}
    methods = [call.method for call in telegram.calls]
    assert methods.index("sendChatAction") < methods.index("sendMessage")


async def test_a_quick_answer_goes_out_without_a_typing_indicator(
    telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A grace far longer than any test: the reply always comes first, however slow the machine.
    monkeypatch.setattr("channels.telegram.typing_indicator.GRACE_SECONDS", 3600)
    chat = ConversationReference("telegram", str(USER))
    async with started_channel(telegram) as (channel, _):
        await channel.indicate_typing(chat)
        pending = channel._typing.showing()
        await channel.send(OutgoingMessage(chat, "a quick answer"))
        left = channel._typing.showing()

    assert (pending, left) == (1, 0)  # the indicator was waiting, and the reply cancelled it unsent
    assert telegram.calls_of("sendChatAction") == []


async def test_typing_is_renewed_until_the_reply_is_sent(
    telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("channels.telegram.typing_indicator.REFRESH_SECONDS", 0.05)
    monkeypatch.setattr("channels.telegram.typing_indicator.GRACE_SECONDS", 0)
    chat = ConversationReference("telegram", str(USER))
    async with started_channel(telegram) as (channel, _):
        await channel.indicate_typing(chat)
        renewed = await telegram.wait_for("sendChatAction", 2)  # the first, and a renewal
        await channel.send(OutgoingMessage(chat, "done thinking"))

        # The reply ended it: no renewal is left running for the chat (`stop` would end one anyway).
        assert channel._typing._tasks == {}

    assert renewed[:2] == [{"chat_id": USER, "action": "typing"}] * 2


async def test_the_command_menu_lists_what_every_user_may_run(
    telegram: FakeTelegram, telegram_service: ServiceFactory
) -> None:
    async with telegram_service():
        [call] = await telegram.wait_for("setMyCommands")

    names = [command["command"] for command in call["commands"]]
    assert {"start", "help"} <= set(names)
    assert "upload" not in names  # creators only: not in everyone's menu
    assert all(command["description"] for command in call["commands"])


async def test_a_redelivered_update_is_answered_once(
    telegram: FakeTelegram, telegram_service: ServiceFactory
) -> None:
    async with telegram_service() as service:
        telegram.queue_update(private_update())
        telegram.queue_update(private_update())  # same update_id again

        await _confirmed(telegram, 123456789)  # both copies went to the sink
        await settled(service)

        assert await _inbox_count(service) == 1
    assert telegram.sent_texts() == ["echo: Hi, world!"]


async def test_an_update_that_could_not_be_stored_is_fetched_again(telegram: FakeTelegram) -> None:
    received: list[IncomingMessage] = []

    async def failing_once(message: IncomingMessage) -> Accepted:
        if not received:
            received.append(message)
            raise RuntimeError("database is locked")
        received.append(message)
        return Accepted(1, duplicate=False)

    channel = TelegramChannel(telegram.token, api_url=telegram.url)
    telegram.queue_update(private_update())
    await channel.start(failing_once)
    try:
        await until(lambda: len(received) >= 2, "the update offered to the sink again")
        offsets = [call.get("offset") for call in telegram.calls_of("getUpdates")]
        await until(lambda: channel.status().state == "real", "the channel to recover")
    finally:
        await channel.stop()

    assert received[0].message_id == received[1].message_id == "123456789:11223"
    assert offsets[:2] == [None, None]  # not confirmed until the sink had stored it


# --- groups, buttons ---------------------------------------------------------------------------------


async def test_in_groups_only_messages_for_the_bot_are_answered(
    telegram: FakeTelegram, telegram_service: ServiceFactory
) -> None:
    group = -123456789
    async with telegram_service(telegram_chat_rate=50) as service:
        telegram.queue_update(group_update("anyone up for lunch?", update_id=10))
        telegram.queue_update(group_update("/help@other_bot", update_id=11))
        telegram.queue_update(
            group_update(
                "/help@coach_test_bot",
                update_id=12,
                entities=[{"type": "bot_command", "offset": 0, "length": 20}],
            )
        )
        telegram.queue_update(
            group_update(
                "@coach_test_bot what is a habit?",
                update_id=13,
                entities=[{"type": "mention", "offset": 0, "length": 15}],
            )
        )

        await _confirmed(telegram, 13)  # all four went to the sink
        await settled(service)
        help_reply, mention_reply = await telegram.wait_for("sendMessage", 2)
        assert await _inbox_count(service) == 2

    assert help_reply["chat_id"] == group and "Here is what I can do" in help_reply["text"]
    assert mention_reply["text"] == "echo: what is a habit?"
    # Replies in a group quote the question they answer.
    assert mention_reply["reply_parameters"] == {"message_id": 1, "allow_sending_without_reply": True}
    assert len(telegram.calls_of("sendMessage")) == 2


async def test_a_button_tap_is_acknowledged_and_its_data_reaches_the_core(
    telegram: FakeTelegram, telegram_service: ServiceFactory
) -> None:
    async with telegram_service():
        telegram.queue_update(telegram_callback_update("Data from button callback"))

        [reply] = await telegram.wait_for("sendMessage")
        [answer] = await telegram.wait_for("answerCallbackQuery")

    assert answer["callback_query_id"] == "4382bfdwdsb323b2d9"
    assert reply == {"chat_id": USER, "text": "echo: Data from button callback"}


async def test_buttons_become_an_inline_keyboard_on_the_last_part(telegram: FakeTelegram) -> None:
    text = " ".join(["A sentence to make the question long."] * 150)
    buttons = (Button("Yes, I did", "yes"), Button("Not yet", "no"))
    async with started_channel(telegram, chat_rate=100) as (channel, _):
        message = OutgoingMessage(ConversationReference("telegram", str(USER)), text, buttons=buttons)
        assert channel.send_cost(message) == 2

        await channel.send(message)

    first, last = telegram.calls_of("sendMessage")
    assert "reply_markup" not in first
    assert last["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Yes, I did", "callback_data": "yes"}],
            [{"text": "Not yet", "callback_data": "no"}],
        ]
    }


# --- documents ---------------------------------------------------------------------------------------


async def test_a_creator_uploads_a_document_by_sending_it(
    telegram: FakeTelegram, telegram_service: ServiceFactory
) -> None:
    update = _docx_update()
    telegram.add_file(update["message"]["document"]["file_id"], DOCX)
    async with telegram_service(admins=[f"telegram:{USER}"], telegram_chat_rate=50) as service:
        telegram.queue_update(update)

        await telegram.wait_for("sendMessage", 2, succeeded=True)
        documents = await service.knowledge.documents(service.default_creator.id)  # type: ignore[union-attr]

    progress, result = telegram.sent_texts(USER)
    assert progress == "Reading test.docx…"
    assert result.startswith("Learned") and "test.docx" in result
    assert [call["file_id"] for call in telegram.calls_of("getFile")] == [
        update["message"]["document"]["file_id"]
    ]
    assert telegram.calls_of("download")
    assert [document.filename for document in documents] == ["test.docx"]


async def test_someone_who_is_not_a_creator_is_told_politely(
    telegram: FakeTelegram, telegram_service: ServiceFactory
) -> None:
    async with telegram_service():
        telegram.queue_update(_docx_update())

        await telegram.wait_for("sendMessage")

    assert telegram.sent_texts() == ["Sorry, /upload is only for creators."]
    assert telegram.calls_of("getFile") == []


async def test_a_file_over_telegrams_20_mb_download_limit_is_explained(
    telegram: FakeTelegram, telegram_service: ServiceFactory
) -> None:
    async with telegram_service(admins=[f"telegram:{USER}"], telegram_chat_rate=50):
        telegram.queue_update(_docx_update(file_size=25 * 1024 * 1024))

        await telegram.wait_for("sendMessage", 2, succeeded=True)

    result = telegram.sent_texts()[-1]
    assert result.startswith("I couldn't learn from test.docx: it is 25.0 MB")
    assert "Telegram lets bots download files up to 20 MB" in result
    assert telegram.calls_of("getFile") == []  # refused before asking Telegram


async def test_telegrams_own_file_is_too_big_answer_is_explained(telegram: FakeTelegram) -> None:
    update = _docx_update(file_size=None)  # size unknown: Telegram's getFile refuses
    file_id = update["message"]["document"]["file_id"]
    telegram.too_big_files.add(file_id)
    async with started_channel(telegram) as (channel, received):
        telegram.queue_update(update)
        await until(lambda: bool(received), "the document update to arrive")

        with pytest.raises(AttachmentError) as refused:
            await channel.fetch_attachment(received[0].attachments[0], max_bytes=100 * 1024 * 1024)

    assert "Telegram lets bots download files up to 20 MB" in str(refused.value)
    assert "REST API" in str(refused.value)


# --- sending: long replies, flood control, blocked users --------------------------------------------


async def test_a_long_reply_is_split_between_sentences(
    telegram: FakeTelegram, telegram_service: ServiceFactory
) -> None:
    answer = " ".join(f"Point {index} is worth remembering when you plan the week." for index in range(180))
    generator = ScriptedGenerator(lambda request: answer)
    async with telegram_service(generator=generator, telegram_chat_rate=50):
        telegram.queue_update(private_update())

        parts = await telegram.wait_for("sendMessage", 3)

    texts = [part["text"] for part in parts]
    assert all(len(text) <= 4096 for text in texts)
    assert all(text.endswith("the week.") for text in texts)
    assert " ".join(texts) == answer


async def test_flood_control_retry_after_is_honoured(
    telegram: FakeTelegram, telegram_service: ServiceFactory, clock: FakeClock
) -> None:
    telegram.fail_next("sendMessage", flood(retry_after=3))
    async with telegram_service(clock=clock) as service:
        telegram.queue_update(private_update())

        async def put_back() -> bool:  # the outbox has read the 429 and scheduled the retry
            async with service.sessions() as session:
                row = await session.scalar(select(OutboxMessage))
            return row is not None and row.status == "pending" and "retry after" in (row.last_error or "")

        await until(put_back, "the 429 read and the retry scheduled")
        clock.advance(2)
        async with service.sessions() as session:
            early = await session.scalar(select(OutboxMessage))
        assert early is not None and early.next_attempt_at > clock.now()  # not due before retry_after
        assert len(telegram.calls_of("sendMessage")) == 1

        clock.advance(2)
        await telegram.wait_for("sendMessage", 1, succeeded=True)
        async with service.sessions() as session:
            row = await session.scalar(select(OutboxMessage))

    assert telegram.sent_texts() == ["echo: Hi, world!"]
    assert row is not None and row.attempts == 2
    assert "retry after 3" in (row.last_error or "")


async def test_a_blocked_user_is_marked_unreachable_and_not_written_to_again(
    telegram: FakeTelegram, telegram_service: ServiceFactory
) -> None:
    telegram.fail_next("sendMessage", blocked())
    async with telegram_service() as service:
        telegram.queue_update(private_update())
        await telegram.wait_for("sendMessage")

        async def unreachable() -> bool:
            async with service.sessions() as session:
                account = await session.scalar(
                    select(ChannelAccount).where(ChannelAccount.external_id == str(USER))
                )
            return account is not None and not account.reachable

        await until(unreachable, "the account marked unreachable")
        # A scheduled step for the same person, later on: it must not be sent.
        async with service.sessions.begin() as session:
            step = service.outbox.enqueue(
                session,
                OutgoingMessage(ConversationReference("telegram", str(USER)), "Time for today's walk!"),
                dedupe_key="program-step-1",
            )
        service.outbox.queued.notify()

        async def step_failed() -> bool:
            async with service.sessions() as session:
                row = await session.get(OutboxMessage, step.id)
            return row is not None and row.status == "failed"

        await until(step_failed, "the step's message to fail")

    assert len(telegram.calls_of("sendMessage")) == 1  # only the first, refused, attempt


async def test_parts_already_delivered_are_not_sent_again_after_a_flood_error(telegram: FakeTelegram) -> None:
    text = "\n\n".join(["First paragraph. " * 200, "Second paragraph. " * 200])
    message = OutgoingMessage(ConversationReference("telegram", str(USER)), text)
    telegram.fail_next("sendMessage", flood(retry_after=1), after=1)
    async with started_channel(telegram, chat_rate=100) as (channel, _):
        with pytest.raises(TemporarySendError) as flooded:
            await channel.send(message)
        await channel.send(message)  # the outbox's retry

    assert flooded.value.retry_after == 1
    sent = telegram.sent_texts()
    assert len(sent) == 2 and sent[0].startswith("First") and sent[1].startswith("Second")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (flood(retry_after=7), TemporarySendError),
        (blocked(), RecipientUnreachableError),
        (chat_not_found(), PermanentSendError),
    ],
)
async def test_bot_api_errors_become_the_outboxs_send_errors(
    telegram: FakeTelegram, error: Any, expected: type[SendError]
) -> None:
    telegram.fail_next("sendMessage", error)
    async with started_channel(telegram) as (channel, _):
        with pytest.raises(SendError) as raised:
            await channel.send(OutgoingMessage(ConversationReference("telegram", str(USER)), "hello"))

    assert type(raised.value) is expected
    assert raised.value.reason
    if expected is TemporarySendError:
        assert raised.value.retry_after == 7


# --- webhook mode ------------------------------------------------------------------------------------


@pytest.fixture
def webhook_settings() -> dict[str, Any]:
    """Settings that put the channel in webhook mode."""
    return {"telegram_webhook_secret": SECRET, "public_url": "https://coach.example.com"}


async def test_webhook_mode_sets_the_webhook_with_its_secret_at_start(
    telegram: FakeTelegram, telegram_service: ServiceFactory, webhook_settings: dict[str, Any]
) -> None:
    async with telegram_service(**webhook_settings) as service:
        [call] = telegram.calls_of("setWebhook")
        status = service.channels["telegram"].status()

    assert call["url"] == "https://coach.example.com/webhooks/telegram"
    assert call["secret_token"] == SECRET
    assert call["allowed_updates"] == ["message", "edited_message", "callback_query"]
    assert telegram.calls_of("getUpdates") == []
    assert status.state == "real" and "webhook" in status.detail


async def test_a_webhook_with_the_right_secret_is_stored_then_answered(
    telegram: FakeTelegram,
    make_service: Callable[..., Coachline],
    make_settings: Callable[..., Settings],
    webhook_settings: dict[str, Any],
) -> None:
    async with _webhook_app(telegram, make_service, make_settings, webhook_settings) as (service, client):
        body = private_update()
        first = await client.post("/webhooks/telegram", json=body, headers={SECRET_HEADER: SECRET})
        again = await client.post("/webhooks/telegram", json=body, headers={SECRET_HEADER: SECRET})

        await settled(service)  # both posts returned once stored: everything stored is answered now
        [reply] = await telegram.wait_for("sendMessage")
        stored = await _inbox_count(service)

    assert first.status_code == again.status_code == 200
    assert reply == {"chat_id": USER, "text": "echo: Hi, world!"}
    assert stored == 1 and len(telegram.calls_of("sendMessage")) == 1  # the redelivery answered once


@pytest.mark.parametrize(
    "headers",
    [{}, {SECRET_HEADER: WRONG_SECRET}, {SECRET_HEADER: ""}],
    ids=["missing", "wrong", "empty"],
)
async def test_a_forged_webhook_is_refused_and_not_stored(
    telegram: FakeTelegram,
    make_service: Callable[..., Coachline],
    make_settings: Callable[..., Settings],
    webhook_settings: dict[str, Any],
    headers: dict[str, str],
) -> None:
    async with _webhook_app(telegram, make_service, make_settings, webhook_settings) as (service, client):
        response = await client.post("/webhooks/telegram", json=private_update(), headers=headers)
        await settled(service)

        assert response.status_code == 403
        assert await _inbox_count(service) == 0
    assert telegram.calls_of("sendMessage") == []


async def test_a_webhook_body_that_is_not_an_update_is_a_bad_request(
    telegram: FakeTelegram,
    make_service: Callable[..., Coachline],
    make_settings: Callable[..., Settings],
    webhook_settings: dict[str, Any],
) -> None:
    async with _webhook_app(telegram, make_service, make_settings, webhook_settings) as (service, client):
        not_json = await client.post(
            "/webhooks/telegram", content=b"{not json", headers={SECRET_HEADER: SECRET}
        )
        no_update_id = await client.post(
            "/webhooks/telegram", json={"message": {}}, headers={SECRET_HEADER: SECRET}
        )

        assert await _inbox_count(service) == 0
    assert not_json.status_code == no_update_id.status_code == 400


async def test_the_webhook_route_is_off_in_polling_mode(
    telegram: FakeTelegram, make_service: Callable[..., Coachline], make_settings: Callable[..., Settings]
) -> None:
    async with _webhook_app(telegram, make_service, make_settings, {}) as (service, client):
        response = await client.post(
            "/webhooks/telegram", json=private_update(), headers={SECRET_HEADER: SECRET}
        )
        assert await _inbox_count(service) == 0

    assert response.status_code == 404


@asynccontextmanager
async def _webhook_app(
    telegram: FakeTelegram,
    make_service: Callable[..., Coachline],
    make_settings: Callable[..., Settings],
    settings: dict[str, Any],
) -> AsyncIterator[tuple[Coachline, httpx.AsyncClient]]:
    values = {"telegram_bot_token": telegram.token, "telegram_api_url": telegram.url} | settings
    channel = TelegramChannel.from_settings(
        make_settings(**values), own_settings(TelegramSettings, values, "telegram_")
    )
    service = make_service(channels={"telegram": channel}, generator=ScriptedGenerator(), **values)
    async with serve_asgi(create_app(service)) as url, httpx.AsyncClient(base_url=url, timeout=15) as client:
        yield service, client


# --- status and settings -----------------------------------------------------------------------------


async def test_status_names_the_bot_and_mode(telegram: FakeTelegram) -> None:
    async with started_channel(telegram) as (channel, _):
        status = channel.status()

    assert status.state == "real"
    assert status.detail == "@coach_test_bot, long polling"
    assert channel.status().state == "off"


async def test_a_rejected_token_degrades_the_channel_without_leaking_it(
    telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "999:WRONG-TOKEN"
    channel = TelegramChannel(token, api_url=telegram.url)

    async def sink(message: IncomingMessage) -> Accepted:
        raise AssertionError("nothing should arrive")

    # An hour's backoff: were stopping to wait it out, the test would hang instead of passing.
    monkeypatch.setattr("channels.telegram.adapter.FIRST_RETRY_SECONDS", 3600.0)
    await channel.start(sink)
    status = channel.status()
    async with asyncio.timeout(HANG_SECONDS):
        await channel.stop()

    assert status.state == "degraded"
    assert "retrying" in status.detail and token not in status.detail


def test_the_factory_follows_the_settings(make_settings: Callable[..., Settings]) -> None:
    def build(core: Settings, **own: Any) -> Any:
        return build_channels(core, ["telegram"], channel_settings={"telegram": TelegramSettings.of(**own)})

    off = build(make_settings())
    polling = build(make_settings(), bot_token="1:A")["telegram"]
    webhook = build(
        make_settings(public_url="https://coach.example.com/"), bot_token="1:A", webhook_secret=SECRET
    )
    secret_only = build(make_settings(), bot_token="1:A", webhook_secret=SECRET)["telegram"]
    rates = build(make_settings(), bot_token="1:A", chat_rate=0.5, global_rate=20)["telegram"]
    webhook = webhook["telegram"]

    assert off == {}
    assert isinstance(polling, TelegramChannel) and polling.mode == "polling"
    assert isinstance(webhook, TelegramChannel) and webhook.mode == "webhook"
    assert webhook.webhook_url == "https://coach.example.com/webhooks/telegram"
    assert isinstance(secret_only, TelegramChannel) and secret_only.mode == "polling"
    assert polling.limits.per_chat_rate == 1.0 and polling.limits.overall_rate == 30.0
    assert polling.capabilities.max_message_chars == 4096 and polling.capabilities.buttons
    assert rates.limits.per_chat_rate == 0.5 and rates.limits.overall_rate == 20


def test_a_webhook_secret_telegram_would_refuse_is_a_settings_error(
    make_settings: Callable[..., Settings],
) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="Telegram's rule"):
        TelegramSettings.of(webhook_secret="has spaces and !")
