"""`AiohttpRequest`: python-telegram-bot's real `Bot` over aiohttp, against the fake Bot API server.

The same calls, answers and errors as PTB's own HTTPXRequest: parameters arrive (JSON, or multipart
with a file), Bot API errors become PTB's exceptions and then the outbox's send errors, a refused
connection and a silent server become `NetworkError` and `TimedOut`, files download, proxies come from
the environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import yarl
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.foundation.messages import ConversationReference, OutgoingMessage
from channels.base import PermanentSendError, RecipientUnreachableError, TemporarySendError
from channels.telegram.adapter import TelegramChannel
from channels.telegram.aiohttp_request import AiohttpRequest, _environment_proxy
from channels.telegram.errors import retry_after_seconds, to_send_error
from tests.fakes.telegram_process import run_fake_telegram_process
from tests.fakes.telegram_server import FakeTelegram, blocked, chat_not_found, flood, run_fake_telegram

# python-telegram-bot 22's own RetryAfter.__init__ reads its deprecated int `retry_after` and warns.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*attribute `retry_after` will be of type:telegram.warnings.PTBDeprecationWarning"
)

CHAT = 12345678


@asynccontextmanager
async def bot_over_aiohttp(url: str, token: str) -> AsyncIterator[Bot]:
    """A real PTB `Bot` whose requests go through `AiohttpRequest`, initialised (getMe) and shut down."""
    bot = Bot(
        token,
        base_url=f"{url}/bot",
        base_file_url=f"{url}/file/bot",
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
    )
    async with bot:
        yield bot


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """The fake Bot API on an ephemeral port."""
    async with run_fake_telegram() as fake:
        yield fake


async def test_a_message_with_a_keyboard_and_a_quote_arrives_as_sent(telegram: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
    async with bot_over_aiohttp(telegram.url, telegram.token) as bot:
        assert bot.username == "coach_test_bot"  # getMe answered through aiohttp
        sent = await bot.send_message(
            CHAT,
            "Grüße — 你好",
            reply_markup=keyboard,
            reply_parameters=ReplyParameters(77, allow_sending_without_reply=True),
        )

    [call] = telegram.calls_of("sendMessage")
    assert call["chat_id"] == CHAT and call["text"] == "Grüße — 你好"
    assert call["reply_markup"] == {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}
    assert call["reply_parameters"] == {"message_id": 77, "allow_sending_without_reply": True}
    assert sent.message_id > 0 and sent.text == "Grüße — 你好"


async def test_a_file_is_uploaded_as_multipart(telegram: FakeTelegram) -> None:
    data = bytes(range(256)) * 4
    async with bot_over_aiohttp(telegram.url, telegram.token) as bot:
        sent = await bot.send_document(CHAT, data, filename="notes.bin", caption="the notes")

    [call] = telegram.calls_of("sendDocument")
    assert call["caption"] == "the notes" and int(call["chat_id"]) == CHAT
    assert call["document"]["filename"] == "notes.bin"
    assert call["document"]["data"].encode("latin-1") == data
    assert sent.document is not None and sent.document.file_size == len(data)


async def test_a_file_people_sent_is_downloaded(telegram: FakeTelegram) -> None:
    telegram.add_file("file-1", b"%PDF-1.7 the guide")
    async with bot_over_aiohttp(telegram.url, telegram.token) as bot:
        file = await bot.get_file("file-1")
        data = await file.download_as_bytearray()

    assert bytes(data) == b"%PDF-1.7 the guide"


async def test_flood_control_becomes_retry_after_then_a_retry_later(telegram: FakeTelegram) -> None:
    telegram.fail_next("sendMessage", flood(retry_after=5))
    async with bot_over_aiohttp(telegram.url, telegram.token) as bot:
        with pytest.raises(RetryAfter) as raised:
            await bot.send_message(CHAT, "hello")

    assert retry_after_seconds(raised.value) == 5
    error = to_send_error(raised.value)
    assert isinstance(error, TemporarySendError) and error.retry_after == 5


async def test_a_blocked_bot_is_forbidden_and_the_recipient_unreachable(telegram: FakeTelegram) -> None:
    telegram.fail_next("sendMessage", blocked())
    async with bot_over_aiohttp(telegram.url, telegram.token) as bot:
        with pytest.raises(Forbidden) as raised:
            await bot.send_message(CHAT, "hello")

    assert "blocked" in raised.value.message
    assert isinstance(to_send_error(raised.value), RecipientUnreachableError)


async def test_a_rejected_message_is_a_bad_request_and_permanent(telegram: FakeTelegram) -> None:
    telegram.fail_next("sendMessage", chat_not_found())
    async with bot_over_aiohttp(telegram.url, telegram.token) as bot:
        with pytest.raises(BadRequest) as raised:
            await bot.send_message(CHAT, "hello")

    assert isinstance(to_send_error(raised.value), PermanentSendError)


async def test_a_refused_connection_is_a_network_error_and_temporary() -> None:
    # A port that was just free: nothing listens there.
    server = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    bot = Bot("123:ABC", base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest())
    try:
        with pytest.raises(NetworkError) as raised:
            await bot.send_message(CHAT, "hello")
    finally:
        await bot.request.shutdown()

    assert not isinstance(raised.value, TimedOut)
    assert isinstance(to_send_error(raised.value), TemporarySendError)


async def test_a_server_that_never_answers_times_out() -> None:
    received = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        received.set()  # the request arrived; no answer will

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    request = AiohttpRequest(read_timeout=0.05)
    bot = Bot("123:ABC", base_url=f"http://127.0.0.1:{port}/bot", request=request)
    try:
        with pytest.raises(TimedOut) as raised:
            await bot.send_message(CHAT, "hello")
    finally:
        await request.shutdown()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()

    assert received.is_set()
    assert isinstance(to_send_error(raised.value), TemporarySendError)


async def test_a_request_shut_down_refuses_calls_until_initialised_again(telegram: FakeTelegram) -> None:
    request = AiohttpRequest()
    bot = Bot(telegram.token, base_url=f"{telegram.url}/bot", request=request)
    await request.initialize()
    await request.shutdown()
    with pytest.raises(NetworkError):
        await bot.send_message(CHAT, "after shutdown")
    await request.initialize()
    try:
        await bot.send_message(CHAT, "after initialize")
    finally:
        await request.shutdown()

    assert telegram.sent_texts() == ["after initialize"]


async def test_the_channel_closes_connections_a_send_opened_before_start(telegram: FakeTelegram) -> None:
    channel = TelegramChannel(telegram.token, api_url=telegram.url)
    result = await channel.send(OutgoingMessage(ConversationReference("telegram", str(CHAT)), "early"))
    await channel.stop()

    assert result.platform_message_id is not None and result.platform_message_id.isdigit()
    assert telegram.sent_texts() == ["early"]
    request = channel.bot.request
    assert isinstance(request, AiohttpRequest)
    with pytest.raises(RuntimeError):  # closed: a call after stop opens nothing
        await request.do_request(f"{telegram.url}/bot{telegram.token}/getMe", "POST")


def test_proxies_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("https_proxy", "http_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    api = yarl.URL("https://api.telegram.org/bot123/sendMessage")
    assert _environment_proxy(api) is None

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert _environment_proxy(api) == "http://proxy.example:3128"
    assert _environment_proxy(yarl.URL("http://127.0.0.1:8081/bot1/getMe")) is None  # no HTTP_PROXY

    monkeypatch.setenv("NO_PROXY", "api.telegram.org")
    assert _environment_proxy(api) is None


async def test_the_fake_serves_from_its_own_process_for_benchmarks() -> None:
    async with run_fake_telegram_process() as remote:
        async with bot_over_aiohttp(remote.url, remote.token) as bot:
            await bot.send_message(CHAT, "from another process")
        calls = await remote.calls_of("sendMessage")

    assert [(call.params["chat_id"], call.params["text"], call.returned) for call in calls] == [
        (CHAT, "from another process", 1)
    ]
