"""Telegram replies per second against the fake Bot API: Coachline beside a bare python-telegram-bot echo bot.

Both read the same queued updates (several people writing at once) by long polling the same fake
server and answer each with one sendMessage. The clock runs from the first getUpdates to the last
sendMessage the fake receives. Coachline does everything it does for a real message — persist it in
the inbox (SQLite), identify the person, answer (an instant fake model), queue the reply, pace it,
send it, mark it sent — so the ratio is what all that costs against the library's own ceiling. The
send rates are raised so that Telegram's pacing is not what is measured.

Each run starts with one message from each person, timed on its own: a person's first message also
creates their user, account and conversation, which happens once in their life, so it is its own
row ("first messages") rather than a quarter of the measured round. The measured round then comes
from people who wrote before, as most messages to a running coach do. The echo bot gets the same
warm-up round, so both are measured warm.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bench.stats import Row
from bench.telegram_sends import send_rows
from bot.app import create_app
from bot.composition import build_service
from bot.foundation.messages import IncomingMessage, OutgoingMessage
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
RUNS = 3  # runs of each bot, alternated; the rows show medians
BENCH = "Telegram replies (fake Bot API, long polling)"
ACK_BENCH = "Telegram webhook ack, server CPU per request"
# Enough people that none of them passes the default burst (10) in the whole ack bench (3,300 updates
# to Coachline): a message set aside costs one more read, a redelivery one more too, and neither is
# the acknowledgement a platform usually waits on.
ACK_PEOPLE = 500
SECRET = "bench-webhook-secret"


def _update(index: int, people: int = PEOPLE) -> dict[str, Any]:
    """Update `index`: from one of `people` private chats (update `i` from person `i % people`), its own
    text and ids."""
    template = telegram_text_update("question")
    person = 10_000 + index % people
    message = template["message"] | {
        "message_id": index + 1,
        "text": f"question {index}",
        "from": template["message"]["from"] | {"id": person},
        "chat": template["message"]["chat"] | {"id": person},
    }
    return {"update_id": index + 1, "message": message}


@dataclass(frozen=True)
class Rates:
    """Replies a second in a run's two rounds: everyone's first message, then `count` more."""

    first_messages: float
    replies: float


def _rate(telegram: FakeTelegram, count: int, started: float, since: int) -> float:
    """Replies a second from `started` (when the round's updates were queued, on the fake's clock) to
    the last sendMessage, counting the fake's calls from number `since` on (one round of a run)."""
    sends = [call.at for call in telegram.calls[since:] if call.method == "sendMessage" and call.returned]
    if len(sends) < count:
        raise AssertionError(f"only {len(sends)} of {count} replies arrived")
    return count / (max(sends) - started)


async def _wait_for_replies(telegram: FakeTelegram, count: int, timeout: float = 120) -> None:
    try:
        await asyncio.wait_for(telegram.wait_for_sent(count), timeout)
    except TimeoutError:
        raise AssertionError(f"{len(telegram.sent_texts())} of {count} replies after {timeout} s") from None


async def _two_rounds(telegram: FakeTelegram, count: int) -> Rates:
    """Queue one message from each person and time their replies, then `count` more (from the same
    people, as `_update` numbers them on) and time those; the bot under test is running and polling."""
    rounds = ((0, PEOPLE), (PEOPLE, PEOPLE + count))
    rates = []
    for first, end in rounds:
        since, started = len(telegram.calls), time.perf_counter()  # the clock ApiCall.at is read on
        for index in range(first, end):
            telegram.queue_update(_update(index))
        await _wait_for_replies(telegram, end)
        rates.append(_rate(telegram, end - first, started, since))
    return Rates(*rates)


def _settings(data_dir: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": Path(data_dir),
        "api_key": "bench-admin-key",
        "llm": LLMMode.OFFLINE,
    }
    return Settings(_env_file=None, **values | overrides)  # type: ignore[call-arg]


async def coachline_rates(count: int) -> Rates:
    """Replies a second through the whole service: to first messages, then to `count` more."""
    async with run_fake_telegram() as telegram:
        with tempfile.TemporaryDirectory() as data_dir:
            # Floods from few senders are the point; pacing: bench/fairness.py.
            settings = _settings(data_dir, sender_rate=0.0)
            own = TelegramSettings.of(
                bot_token=telegram.token, api_url=telegram.url, chat_rate=1_000_000.0, global_rate=1_000_000.0
            )
            service = build_service(
                settings,
                channels=build_channels(settings, ["telegram"], channel_settings={"telegram": own}),
                generator=ScriptedGenerator(),
                embedder=HashingEmbedder(),
                vector_store=InMemoryVectorStore(),
            )
            await service.start()
            try:
                rates = await _two_rounds(telegram, count)
            finally:
                await service.stop()
        expected = {f"echo: question {index}" for index in range(PEOPLE + count)}
        if set(telegram.sent_texts()) != expected:
            raise AssertionError("Coachline's replies do not match the questions")
        return rates


async def coachline_rate(count: int) -> float:
    """Replies a second through the whole service to `count` messages from people who wrote before."""
    return (await coachline_rates(count)).replies


async def adapter_echo_rate(count: int) -> float:
    """Replies a second of the channel adapter alone: its polling loop answering through `send`, no core."""
    async with run_fake_telegram() as telegram:
        channel = TelegramChannel(
            telegram.token, api_url=telegram.url, chat_rate=1_000_000.0, global_rate=1_000_000.0
        )

        async def echo(message: IncomingMessage) -> Accepted:
            # One update at a time, like the echo bot's default (no concurrent_updates).
            await channel.send(OutgoingMessage(message.conversation, f"echo: {message.text}"))
            return Accepted(0, duplicate=False)

        await channel.start(echo)
        try:
            rates = await _two_rounds(telegram, count)
        finally:
            await channel.stop()
        return rates.replies


async def ptb_echo_rate(count: int) -> float:
    """Replies a second of the smallest python-telegram-bot echo bot: the library's ceiling."""
    async with run_fake_telegram() as telegram:
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
                rates = await _two_rounds(telegram, count)
            finally:
                await application.updater.stop()
                await application.stop()
        return rates.replies


async def null_app(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app that answers 200 and does nothing: what the client itself costs is measured on it."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def bare_webhook_app() -> FastAPI:
    """The comparator: a FastAPI handler that reads the update and answers 200, storing nothing."""
    app = FastAPI()

    @app.post("/webhooks/telegram")
    async def webhook(request: Request) -> Response:
        await request.json()
        return Response('{"ok":true}', media_type="application/json")

    return app


@asynccontextmanager
async def coachline_webhook_app(telegram: FakeTelegram, data_dir: str) -> AsyncIterator[FastAPI]:
    """Coachline's whole HTTP app with the Telegram channel in webhook mode; no workers run, so the
    CPU measured is the acknowledgement's alone (secret check, parse, pace, persist)."""
    settings = _settings(data_dir, public_url="https://bench.example")
    own = TelegramSettings.of(bot_token=telegram.token, api_url=telegram.url, webhook_secret=SECRET)
    channels = build_channels(settings, ["telegram"], channel_settings={"telegram": own})
    service = build_service(settings, channels=channels, generator=ScriptedGenerator())
    await service.prepare()
    await channels["telegram"].start(service.receive)
    try:
        yield create_app(service)
    finally:
        await channels["telegram"].stop()
        await service.engine.dispose()


async def _cpu_per_request(app: ASGIApp, count: int, concurrency: int, first: int) -> float:
    """Milliseconds of process CPU (every thread: the SQLite driver's worker too) per webhook request,
    client included.

    `concurrency` requests are in flight at a time, as when a platform delivers a burst; nothing else
    runs in the process. The updates are numbered from `first`, so that no run sends one a run before
    it sent (a redelivery stores nothing); the first 50 are a warm-up.
    """
    transport = httpx.ASGITransport(app=app)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def post(index: int) -> None:
            update = _update(first + index, ACK_PEOPLE)
            response = await client.post("/webhooks/telegram", json=update, headers=headers)
            if response.status_code != 200:
                raise AssertionError(f"webhook answered {response.status_code}: {response.text}")

        for index in range(50):
            await post(index)
        started = time.process_time()
        end = 50 + count
        for start in range(50, end, concurrency):
            await asyncio.gather(*(post(index) for index in range(start, min(start + concurrency, end))))
        return (time.process_time() - started) / count * 1000


async def ack_rows(count: int) -> list[Row]:
    """Server CPU per webhook ack through Coachline beside a bare FastAPI handler, in one run.

    Each figure is the process's CPU per request minus the client's own (measured on an app that does
    nothing), one request at a time and 32 in flight.
    """
    rows: list[Row] = []
    first = 0  # the next update's number: every request of the bench carries a new message
    async with run_fake_telegram() as telegram:
        with tempfile.TemporaryDirectory() as data_dir:
            async with coachline_webhook_app(telegram, data_dir) as app:
                bare_app = bare_webhook_app()
                for concurrency in (1, 32):
                    # Three rounds, medians: one round's client figure (subtracted from both) swung
                    # enough to make the bare handler's cost come out negative.
                    measured: dict[str, list[float]] = {"client": [], "bare": [], "coachline": []}
                    for _ in range(RUNS):
                        for name, measured_app in (
                            ("client", null_app),
                            ("bare", bare_app),
                            ("coachline", app),
                        ):
                            cpu = await _cpu_per_request(measured_app, count, concurrency, first)
                            measured[name].append(cpu)
                            first += 50 + count
                    client = statistics.median(measured["client"])
                    bare = statistics.median(measured["bare"]) - client
                    coachline = statistics.median(measured["coachline"]) - client
                    name = f"{ACK_BENCH}, {concurrency} in flight"
                    note = (
                        f"{count} new messages from {ACK_PEOPLE} people, none over its sender's rate; "
                        "SQLite; client's own CPU subtracted; "
                        f"median of {RUNS} runs"
                    )
                    rows += [
                        Row(name, "Coachline (persisted, then 200)", f"{coachline:.2f} ms", note),
                        Row(
                            name,
                            "bare FastAPI handler",
                            f"{bare:.2f} ms",
                            "parses the update, stores nothing",
                        ),
                        Row(
                            name, "ratio", f"{coachline / bare:.1f}", "Coachline / bare FastAPI; goal ≤ 1 ms"
                        ),
                    ]
    return rows


async def run(quick: bool) -> list[Row]:
    """Coachline's and the bare library's replies a second, and their ratio; the webhook ack's CPU."""
    count = 200 if quick else 1000
    # Alternated and repeated: a round of 200 replies from the echo bot lasts under half a second, and
    # one run's ceiling swung by a third; the medians are what the rows show.
    ceilings, coachlines, firsts = [], [], []
    for _ in range(RUNS):
        ceilings.append(await ptb_echo_rate(count))
        rates = await coachline_rates(count)
        coachlines.append(rates.replies)
        firsts.append(rates.first_messages)
    ceiling, coachline = statistics.median(ceilings), statistics.median(coachlines)
    adapter = await adapter_echo_rate(count)
    note = f"{count} updates from {PEOPLE} people who wrote before; median of {RUNS} runs"
    return [
        *await ack_rows(500 if quick else 2000),
        *await send_rows(2000 if quick else 10_000),
        Row(BENCH, "Coachline (SQLite, instant model)", f"{coachline:.0f} replies/s", note),
        Row(
            BENCH,
            "bare python-telegram-bot echo bot",
            f"{ceiling:.0f} replies/s",
            f"the library's ceiling; median of {RUNS} runs",
        ),
        Row(BENCH, "ratio", f"{coachline / ceiling:.2f}", "Coachline / echo bot"),
        Row(
            BENCH,
            "Coachline, first messages",
            f"{statistics.median(firsts):.0f} replies/s",
            f"{PEOPLE} people writing for the first time (user, account and conversation created)",
        ),
        Row(BENCH, "the adapter alone (echo, no core)", f"{adapter:.0f} replies/s", "polling loop + send"),
        Row(BENCH, "adapter ratio", f"{adapter / ceiling:.2f}", "adapter / echo bot"),
    ]


if __name__ == "__main__":
    import sys

    if "--ack" in sys.argv:
        runner = ack_rows(500)
    elif "--sends" in sys.argv:
        runner = send_rows(2000)
    else:
        runner = run(quick="--full" not in sys.argv)
    for row in asyncio.run(runner):
        print(f"{row.benchmark[:44]:<44} {row.measure:<40} {row.value:>16}  {row.note}")
