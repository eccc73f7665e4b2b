"""SMS against the fake Twilio: webhook acknowledgement, inbound-to-SMS latency, and segment pacing.

Runs the whole service (inbox, dispatcher, outbox, the real twilio client) with an instant model.
Pacing sends a broadcast of mixed 1/2/3-segment messages at `SMS_SEGMENTS_PER_SECOND` and compares
the segment rate the fake Twilio saw with the one allowed (the limiter allows a one-second burst).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.stats import Row, percentile
from bot.app import create_app
from bot.foundation.messages import ConversationReference, OutgoingMessage
from bot.runtime import Coachline
from channels.registry import build_channels
from channels.sms.settings import SmsSettings
from coaching.embeddings import HashingEmbedder
from coaching.fake_generator import ScriptedGenerator
from coaching.vector_store import InMemoryVectorStore
from config import LLMMode, Settings
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio, run_fake_twilio
from tests.support.asgi_server import serve_asgi

PUBLIC_URL = "https://coach.example.com"
# One, two and three GSM-7 segments.
TEXTS = ("Time for your walk.", "Two segments. " * 15, "Three segments here. " * 18)


def _service(twilio: FakeTwilio, data_dir: str, rate: float) -> Coachline:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=Path(data_dir),
        api_key="bench-admin-key",
        llm=LLMMode.OFFLINE,
        sender_rate=0.0,  # floods from few senders are the point; pacing: bench/fairness.py
        public_url=PUBLIC_URL,
    )
    sms = SmsSettings.of(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=FROM_NUMBER,
        api_url=twilio.url,
        segments_per_second=rate,
    )
    return Coachline(
        settings,
        channels=build_channels(settings, ["sms"], channel_settings={"sms": sms}),
        generator=ScriptedGenerator(),
        # No documents are involved: keep the embedding model and the vector database out of it.
        embedder=HashingEmbedder(),
        vector_store=InMemoryVectorStore(),
    )


async def _webhooks(count: int) -> tuple[list[float], list[float]]:
    """Acknowledgement and inbound-to-SMS latencies of `count` signed inbound messages, each sent
    once the previous one was answered (latency, not a load test)."""
    async with run_fake_twilio() as twilio:
        with tempfile.TemporaryDirectory() as data_dir:
            service = _service(twilio, data_dir, rate=1000.0)
            async with serve_asgi(create_app(service)) as url, httpx.AsyncClient(base_url=url) as client:
                acks: list[float] = []
                replies: list[float] = []
                for index in range(-1, count):  # -1 warms up (first-request imports, caches)
                    sid = f"SM{uuid.uuid4().hex}"
                    params = {
                        "MessageSid": sid,
                        "From": f"+1555{index + 1:07d}",
                        "To": FROM_NUMBER,
                        "Body": "hi",
                    }
                    signature = twilio.sign(f"{PUBLIC_URL}/webhooks/sms", params)
                    begin = time.monotonic()
                    response = await client.post(
                        "/webhooks/sms", data=params, headers={"X-Twilio-Signature": signature}
                    )
                    acked = time.monotonic() - begin
                    if response.status_code != 200:
                        raise AssertionError(f"webhook answered {response.status_code}")
                    while len(twilio.messages) <= index + 1:
                        if time.monotonic() - begin > 30:
                            raise AssertionError("no reply within 30 s")
                        await asyncio.sleep(0.001)
                    if index >= 0:
                        acks.append(acked)
                        replies.append(twilio.messages[index + 1].at - begin)
    return acks, replies


async def _pacing(messages: int, rate: float) -> tuple[int, float, float, int]:
    """Segments sent, the rate the fake saw overall and after the first second, and the most it saw
    in any one second."""
    async with run_fake_twilio() as twilio:
        with tempfile.TemporaryDirectory() as data_dir:
            service = _service(twilio, data_dir, rate)
            await service.start()
            try:
                async with service.sessions.begin() as session:
                    for index in range(messages):
                        reference = ConversationReference("sms", f"+1666{index:07d}")
                        text = TEXTS[index % len(TEXTS)]
                        service.outbox.enqueue(
                            session, OutgoingMessage(reference, text), dedupe_key=f"b:{index}"
                        )
                begin = time.monotonic()
                service.outbox.queued.notify()
                sent = await twilio.wait_for_messages(messages, timeout=120)
            finally:
                await service.stop()
    segments = sum(message.num_segments for message in sent)
    elapsed = max(message.at for message in sent) - begin
    busiest = max(
        sum(other.num_segments for other in sent if message.at <= other.at < message.at + 1.0)
        for message in sent
    )
    first = min(message.at for message in sent)
    later = [message for message in sent if message.at >= first + 1.0]
    steady = sum(message.num_segments for message in later) / (max(m.at for m in later) - first - 1.0)
    return segments, segments / elapsed, steady, busiest


async def run(quick: bool) -> list[Row]:
    """Webhook ack p50/p99, inbound-to-SMS p50, and pacing achieved vs allowed."""
    count = 50 if quick else 200
    acks, replies = await _webhooks(count)
    name = "SMS webhook (fake Twilio)"
    rows = [
        Row(name, "ack p50", f"{percentile(acks, 0.5) * 1000:.1f} ms", f"{count} signed inbound SMS"),
        Row(name, "ack p99", f"{percentile(acks, 0.99) * 1000:.1f} ms", "empty TwiML once persisted"),
        Row(name, "inbound to SMS sent p50", f"{percentile(replies, 0.5) * 1000:.1f} ms", "instant model"),
    ]
    rate = 20.0
    messages = 100 if quick else 300
    segments, achieved, steady, busiest = await _pacing(messages, rate)
    name = "SMS pacing (fake Twilio)"
    rows += [
        Row(name, "segments/s overall", f"{achieved:.1f}", f"{segments} segments in {messages} messages"),
        Row(name, "segments/s after the first second", f"{steady:.1f}", f"{rate:g} allowed"),
        Row(name, "most segments in any 1 s", str(busiest), "a one-second burst is allowed on top"),
    ]
    return rows


if __name__ == "__main__":
    for row in asyncio.run(run(quick=True)):
        print(row)
