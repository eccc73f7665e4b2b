"""Telegram replies per second against the fake Bot API: Coachline beside a bare python-telegram-bot echo bot.

Both read the same queued updates (several people writing at once) by long polling the same fake
server and answer each with one sendMessage. The clock runs from the first getUpdates to the last
sendMessage the fake receives. Coachline does everything it does for a real message — persist it in
the inbox (SQLite), identify the person, answer (an instant fake model), queue the reply, pace it,
send it, mark it sent, plus a "typing…" call — so the ratio is what all that costs against the
library's own ceiling. The send rates are raised so that Telegram's pacing is not what is measured.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bench.stats import Row
from bot.foundation.messages import IncomingMessage, OutgoingMessage
from bot.runtime import Coachline
from channels.base import Accepted
from channels.registry import build_channels
from channels.telegram.adapter import TelegramChannel
from channels.telegram.settings import TelegramSettings
from coaching.embeddings import HashingEmbedder
from coaching.fake_generator import ScriptedGenerator
from coaching.vector_store import InMemoryVectorStore
from config import LLMMode, Settings
from tests.fakes.telegram_server import FakeTelegram, run_fake_telegram
from tests.support.payloads import telegram_text_update

PEOPLE = 50  # distinct private chats the updates come from
BENCH = "Telegram replies (fake Bot API, long polling)"


def _queue_updates(telegram: FakeTelegram, count: int) -> None:
    template = telegram_text_update("question")
    for index in range(count):
        person = 10_000 + index % PEOPLE
        message = template["message"] | {
            "message_id": index + 1,
            "text": f"question {index}",
            "from": template["message"]["from"] | {"id": person},
            "chat": template["message"]["chat"] | {"id": person},
        }
        telegram.queue_update({"update_id": index + 1, "message": message})


def _rate(telegram: FakeTelegram, count: int) -> float:
    """Replies a second from the first getUpdates that returned work to the last sendMessage."""
    first = min(call.at for call in telegram.calls if call.method == "getUpdates" and call.returned)
    sends = [call.at for call in telegram.calls if call.method == "sendMessage" and call.returned]
    if len(sends) < count:
        raise AssertionError(f"only {len(sends)} of {count} replies arrived")
    return count / (max(sends) - first)


async def _wait_for_replies(telegram: FakeTelegram, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(telegram.sent_texts()) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(telegram.sent_texts())} of {count} replies after {timeout} s")
        await asyncio.sleep(0.01)


async def coachline_rate(count: int) -> float:
    """Replies a second through the whole service."""
    async with run_fake_telegram() as telegram:
        _queue_updates(telegram, count)
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                data_dir=Path(data_dir),
                api_key="bench-admin-key",
                llm=LLMMode.OFFLINE,
                sender_rate=0.0,  # floods from few senders are the point; pacing: bench/fairness.py
            )
            own = TelegramSettings.of(
                bot_token=telegram.token, api_url=telegram.url, chat_rate=1_000_000.0, global_rate=1_000_000.0
            )
            service = Coachline(
                settings,
                channels=build_channels(settings, ["telegram"], channel_settings={"telegram": own}),
                generator=ScriptedGenerator(),
                embedder=HashingEmbedder(),
                vector_store=InMemoryVectorStore(),
            )
            await service.start()
            try:
                await _wait_for_replies(telegram, count)
            finally:
                await service.stop()
        expected = {f"echo: question {index}" for index in range(count)}
        if set(telegram.sent_texts()) != expected:
            raise AssertionError("Coachline's replies do not match the questions")
        return _rate(telegram, count)


async def adapter_echo_rate(count: int) -> float:
    """Replies a second of the channel adapter alone: its polling loop answering through `send`, no core."""
    async with run_fake_telegram() as telegram:
        _queue_updates(telegram, count)
        channel = TelegramChannel(
            telegram.token, api_url=telegram.url, chat_rate=1_000_000.0, global_rate=1_000_000.0
        )

        async def echo(message: IncomingMessage) -> Accepted:
            # One update at a time, like the echo bot's default (no concurrent_updates).
            await channel.send(OutgoingMessage(message.conversation, f"echo: {message.text}"))
            return Accepted(0, duplicate=False)

        await channel.start(echo)
        try:
            await _wait_for_replies(telegram, count)
        finally:
            await channel.stop()
        return _rate(telegram, count)


async def ptb_echo_rate(count: int) -> float:
    """Replies a second of the smallest python-telegram-bot echo bot: the library's ceiling."""
    async with run_fake_telegram() as telegram:
        _queue_updates(telegram, count)
        application: Application[Any, Any, Any, Any, Any, Any] = (
            Application.builder()
            .token(telegram.token)
            .base_url(f"{telegram.url}/bot")
            .base_file_url(f"{telegram.url}/file/bot")
            .build()
        )

        async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            assert update.message is not None and update.message.text is not None
            await update.message.reply_text(f"echo: {update.message.text}")

        application.add_handler(MessageHandler(filters.TEXT, echo))
        async with application:
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0)
            try:
                await _wait_for_replies(telegram, count)
            finally:
                await application.updater.stop()
                await application.stop()
        return _rate(telegram, count)


async def run(quick: bool) -> list[Row]:
    """Coachline's and the bare library's replies a second, and their ratio."""
    count = 200 if quick else 1000
    ceiling = await ptb_echo_rate(count)
    adapter = await adapter_echo_rate(count)
    coachline = await coachline_rate(count)
    note = f"{count} updates from {PEOPLE} people"
    return [
        Row(BENCH, "Coachline (SQLite, instant model)", f"{coachline:.0f} replies/s", note),
        Row(BENCH, "bare python-telegram-bot echo bot", f"{ceiling:.0f} replies/s", "the library's ceiling"),
        Row(BENCH, "ratio", f"{coachline / ceiling:.2f}", "Coachline / echo bot"),
        Row(BENCH, "the adapter alone (echo, no core)", f"{adapter:.0f} replies/s", "polling loop + send"),
        Row(BENCH, "adapter ratio", f"{adapter / ceiling:.2f}", "adapter / echo bot"),
    ]


if __name__ == "__main__":
    for row in asyncio.run(run(quick=True)):
        print(f"{row.measure:<40} {row.value:>16}  {row.note}")
