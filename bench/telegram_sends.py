"""Outbox sends a second to Telegram: the outbox through the adapter, beside the adapter and the bare library.

Every row sends one message to each of `count` people, `SENDS_IN_FLIGHT` at a time, with Telegram's
limits raised so that pacing is not what is measured. The rate runs from the first sendMessage the fake
received to the last; the CPU column is this process's CPU (every thread, aiosqlite's too) per send.

The fake Bot API runs in a process of its own for the main rows: Telegram does not run in Coachline's
process, and in-process the fake's HTTP server (uvicorn, h11, Starlette) costs this process more CPU
than the adapter's own send. The in-process rows (how the tests run it) are kept beside them. "bare
PTB" is python-telegram-bot's own `Bot.send_message` over its default HTTPXRequest, building a
`Message` from every answer: what the adapter did before `channels.telegram.aiohttp_request`.

    python -m bench.telegram --sends
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from telegram import Bot

from bench.stats import Row
from bot.composition import build_service
from bot.foundation.messages import ConversationReference, OutgoingMessage
from bot.foundation.tables import OutboxMessage
from bot.outbox import FINAL_STATES
from channels.base import Channel, SendResult
from channels.registry import build_channels
from channels.telegram.adapter import TelegramChannel
from channels.telegram.settings import TelegramSettings
from coaching.fake_generator import ScriptedGenerator
from config import LLMMode, Settings
from tests.fakes.telegram_process import run_fake_telegram_process
from tests.fakes.telegram_server import ApiCall, run_fake_telegram
from tests.support.channels import RecordingChannel

SEND_BENCH = "Outbox sends to Telegram (fake Bot API, limits raised)"
SENDS_IN_FLIGHT = 32
TEXT = "Our next live session is on Friday."
UNLIMITED = 1_000_000.0


@dataclass(frozen=True, slots=True)
class FakeApi:
    """A running fake Bot API: where it is, and how to read the sendMessage calls it received."""

    url: str
    token: str
    sends: Callable[[], Awaitable[list[ApiCall]]]


@asynccontextmanager
async def fake_api(own_process: bool) -> AsyncIterator[FakeApi]:
    """The fake in a child process (`own_process`) or in this event loop, as the tests run it."""
    if own_process:
        async with run_fake_telegram_process() as remote:
            yield FakeApi(remote.url, remote.token, lambda: remote.calls_of("sendMessage"))
    else:
        async with run_fake_telegram() as local:

            async def sends() -> list[ApiCall]:
                return [call for call in local.calls if call.method == "sendMessage"]

            yield FakeApi(local.url, local.token, sends)


@dataclass(frozen=True, slots=True)
class SendRun:
    """What one run measured."""

    rate: float  # sends a second, first to last
    cpu_ms: float  # this process's CPU per send
    duplicates: int


def _measure(sends: list[tuple[int, float]], count: int, cpu_seconds: float) -> SendRun:
    """Sends a second from the first to the last, CPU per send, and how many went to someone twice."""
    people = {chat for chat, _ in sends}
    if len(people) < count:
        raise AssertionError(f"only {len(people)} of {count} people were sent to")
    times = sorted(at for _, at in sends)
    return SendRun((len(times) - 1) / (times[-1] - times[0]), cpu_seconds / count * 1000, len(sends) - count)


def _received(calls: list[ApiCall]) -> list[tuple[int, float]]:
    return [(int(call.params["chat_id"]), call.at) for call in calls if call.returned]


class InstantTelegram(RecordingChannel):
    """A Telegram stand-in that accepts every message at once: the outbox's own ceiling, no HTTP."""

    def __init__(self) -> None:
        super().__init__("telegram")
        self.times: list[tuple[int, float]] = []

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Note who and when; accepted at once."""
        self.times.append((int(message.conversation.chat_id), time.perf_counter()))
        return await super().send(message)


def _settings(data_dir: str) -> Settings:
    values: dict[str, Any] = {
        "data_dir": Path(data_dir),
        "api_key": "bench-admin-key",
        "llm": LLMMode.OFFLINE,
        "worker_concurrency": SENDS_IN_FLIGHT,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def outbox_send_run(count: int, api: FakeApi | None) -> SendRun:
    """One message each to `count` people queued at once, sent by the outbox worker through the
    Telegram adapter to the fake (or, without `api`, to an instant stand-in)."""
    with tempfile.TemporaryDirectory() as data_dir:
        settings = _settings(data_dir)
        stand_in = InstantTelegram()
        channels: dict[str, Channel] = {"telegram": stand_in}
        if api is not None:
            own = TelegramSettings.of(
                bot_token=api.token, api_url=api.url, chat_rate=UNLIMITED, global_rate=UNLIMITED
            )
            channels = dict(build_channels(settings, ["telegram"], channel_settings={"telegram": own}))
        service = build_service(settings, channels=channels, generator=ScriptedGenerator())
        await service.start()
        try:
            # One statement for all the rows, as a broadcast queues them (`enqueue_new`).
            async with service.sessions.begin() as session:
                await service.outbox.enqueue_new(
                    session,
                    [
                        (
                            f"bench:{person}",
                            OutgoingMessage(ConversationReference("telegram", str(person)), TEXT),
                        )
                        for person in range(20_000, 20_000 + count)
                    ],
                )
            started = time.process_time()
            service.outbox.queued.notify()
            unsettled = select(func.count()).where(OutboxMessage.status.not_in(FINAL_STATES))
            while True:
                async with service.sessions() as session:
                    if not await session.scalar(unsettled):
                        break
                await asyncio.sleep(0.05)
            cpu = time.process_time() - started
        finally:
            await service.stop()
    sends = stand_in.times if api is None else _received(await api.sends())
    return _measure(sends, count, cpu)


async def _in_flight(count: int, send_one: Callable[[int], Awaitable[Any]]) -> float:
    """Send to `count` people, `SENDS_IN_FLIGHT` at a time; this process's CPU seconds."""
    people = asyncio.Queue[int]()
    for person in range(count):
        people.put_nowait(20_000 + person)

    async def sender() -> None:
        while not people.empty():
            await send_one(people.get_nowait())

    started = time.process_time()
    await asyncio.gather(*(sender() for _ in range(SENDS_IN_FLIGHT)))
    return time.process_time() - started


async def adapter_send_run(count: int, api: FakeApi) -> SendRun:
    """The Telegram adapter alone sending the same messages, as many in flight, no outbox."""
    channel = TelegramChannel(api.token, api_url=api.url, chat_rate=UNLIMITED, global_rate=UNLIMITED)

    async def send_one(person: int) -> None:
        await channel.send(OutgoingMessage(ConversationReference("telegram", str(person)), TEXT))

    try:
        cpu = await _in_flight(count, send_one)
    finally:
        await channel.stop()
    return _measure(_received(await api.sends()), count, cpu)


async def bare_ptb_send_run(count: int, api: FakeApi) -> SendRun:
    """python-telegram-bot's own `Bot.send_message` over its default HTTPXRequest: the library's path."""
    bot = Bot(api.token, base_url=f"{api.url}/bot")

    async def send_one(person: int) -> None:
        await bot.send_message(person, TEXT)

    async with bot:
        cpu = await _in_flight(count, send_one)
    return _measure(_received(await api.sends()), count, cpu)


async def send_rows(count: int) -> list[Row]:
    """The outbox's sustained sends a second beside the adapter's own and the bare library's, in one run."""
    runs: dict[str, SendRun] = {}
    for own_process in (True, False):
        where = "own process" if own_process else "in-process"
        async with fake_api(own_process) as api:
            runs[f"bare {where}"] = await bare_ptb_send_run(count, api)
        async with fake_api(own_process) as api:
            runs[f"adapter {where}"] = await adapter_send_run(count, api)
        async with fake_api(own_process) as api:
            runs[f"outbox {where}"] = await outbox_send_run(count, api)
    runs["instant"] = await outbox_send_run(count, None)
    load = os.getloadavg()[0]
    note = f"{count} people, {SENDS_IN_FLIGHT} in flight, SQLite; load {load:.1f}"

    def row(measure: str, key: str, extra: str = "") -> Row:
        run = runs[key]
        return Row(SEND_BENCH, measure, f"{run.rate:,.0f} msg/s", f"{run.cpu_ms:.2f} ms CPU/send; {extra}")

    outbox, adapter = runs["outbox own process"], runs["adapter own process"]
    return [
        row("outbox → adapter → fake (own process)", "outbox own process", note + "; goal ≥ 1,000 msg/s"),
        row("the adapter alone → fake (own process)", "adapter own process", "no outbox"),
        row("bare PTB Bot.send_message → fake (own process)", "bare own process", "HTTPXRequest"),
        Row(SEND_BENCH, "ratio", f"{outbox.rate / adapter.rate:.2f}", "outbox / adapter alone"),
        row("outbox → adapter → fake (in-process)", "outbox in-process", "the fake shares the loop"),
        row("the adapter alone → fake (in-process)", "adapter in-process", "no outbox"),
        row("bare PTB Bot.send_message → fake (in-process)", "bare in-process", "HTTPXRequest"),
        row("the outbox alone (an instant channel)", "instant", "no HTTP"),
        Row(
            SEND_BENCH,
            "duplicates",
            " / ".join(
                str(runs[key].duplicates) for key in ("outbox own process", "outbox in-process", "instant")
            ),
            "own process / in-process / instant",
        ),
    ]
