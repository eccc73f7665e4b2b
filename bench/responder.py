"""The integrated responder: what Coachline adds around the model, and how soon a streamed answer shows.

1. Overhead: a message through inbox, dispatcher, retrieval (local MiniLM embeddings + hybrid search
   over two real documents), the creator's personality, prompt building, outbox and channel, with
   an instant model. Everything but the model's own time, against the seed's 2 s budget.
2. Streaming: a fake Ollama server streaming 30 tokens/s; the time from the message's arrival until
   the first part reaches the channel, beside the time until the whole answer has.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.stats import Row, percentile, run_alone
from bot.composition import build_service
from bot.foundation.messages import ConversationReference, IncomingMessage, OutgoingMessage
from bot.runtime import Coachline
from channels.base import Channel, ChannelStatus, MessageSink, SendResult
from coaching.embeddings import Embedder, EmbeddingsUnavailable, HashingEmbedder, LocalMiniLMEmbedder
from coaching.fake_generator import ScriptedGenerator
from coaching.generation import Generator
from coaching.vector_store import InMemoryVectorStore
from config import LLMMode, Settings, load_settings
from tests.fakes.ollama_server import run_fake_ollama
from tests.support.shared_fixtures import shared_fixture_or_exit

DOCUMENTS = ("as_a_man_thinketh_james_allen.txt", "niddk_eating_diabetes_508.pdf")
QUESTIONS = (
    "How many servings of vegetables should I eat?",
    "How do my thoughts shape my circumstances?",
    "What should I eat for breakfast?",
    "How can I become calm?",
)
BUDGET_SECONDS = 2.0
TOKENS_PER_SECOND = 30
STREAMED_REPLY = "\n\n".join(
    [
        "Start with your plate: fill half of it with vegetables at lunch and dinner [1].",
        "Then choose whole grains and lean protein for the other half, in the portions your meal plan gives [1].",
        "Keep a simple log of what you eat for a week, and bring it to your diabetes teacher so that "
        "together you can see what helps your blood glucose most [1].",
    ]
)


def _reply(messages: list[dict[str, Any]]) -> str:
    """The streamed answer, or a profile when the personality analyser asks (streamed too, but unused)."""
    if "Answer only with JSON" in messages[0]["content"]:
        return json.dumps(
            {
                "personality_summary": "A plain-spoken educator.",
                "dominant_traits": [{"dimension": "directness", "value": 0.7, "confidence": 0.8}],
                "key_methodologies": ["Meal planning"],
            }
        )
    return STREAMED_REPLY


class TimedChannel(Channel):
    """Records when each message reaches it."""

    name = "bench"

    def __init__(self) -> None:
        self.arrivals: list[float] = []

    async def start(self, sink: MessageSink) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Note the time."""
        self.arrivals.append(time.perf_counter())
        return SendResult()

    def status(self) -> ChannelStatus:
        """Always fine."""
        return ChannelStatus("real", "bench channel")


async def _service(
    data_dir: Path, generator: Generator | None, embedder: Embedder, **settings: object
) -> Coachline:
    values: dict[str, object] = {"data_dir": data_dir, "api_key": "bench", "llm": LLMMode.OFFLINE, **settings}
    service = build_service(
        Settings(_env_file=None, **values),  # type: ignore[arg-type,call-arg]
        channels={"bench": TimedChannel()},
        generator=generator,
        embedder=embedder,
        vector_store=InMemoryVectorStore(),
        poll_seconds=0.05,
    )
    await service.start()
    assert service.default_creator is not None
    for name in DOCUMENTS:
        await service.knowledge.ingest(
            service.default_creator.id, name, shared_fixture_or_exit("docs", name).read_bytes()
        )
    await service.personality.analyze(service.default_creator.id)
    return service


async def _ask(service: Coachline, text: str, user: str | None = None) -> tuple[float, float]:
    """Seconds until the first and the last part of the answer reached the channel; from `user`, or
    from someone writing for the first time."""
    channel = service.channels["bench"]
    assert isinstance(channel, TimedChannel)
    before = len(channel.arrivals)
    user = user or uuid.uuid4().hex[:8]
    started = time.perf_counter()
    accepted = await service.receive(
        IncomingMessage(
            channel="bench",
            user_id=user,
            conversation=ConversationReference("bench", user),
            message_id=uuid.uuid4().hex,
            text=text,
            received_at=service.now(),
        )
    )
    outcome = await service.wait_for_replies(accepted.inbox_id, timeout=60)
    if not outcome.finished:
        raise AssertionError("no reply within 60 s")
    arrivals = channel.arrivals[before:]
    return arrivals[0] - started, arrivals[-1] - started


async def overhead(embedder: Embedder, samples: int) -> list[Row]:
    """p50/p99 of a full answer with an instant model: all of it is Coachline's overhead."""
    with tempfile.TemporaryDirectory() as data_dir:
        service = await _service(Path(data_dir), ScriptedGenerator(), embedder)
        try:
            await _ask(service, "warm up")
            latencies = [(await _ask(service, QUESTIONS[i % len(QUESTIONS)]))[1] for i in range(samples)]
        finally:
            await service.stop()
    name = "responder overhead (instant model)"
    p99 = percentile(latencies, 0.99)
    return [
        Row(
            name,
            "p50",
            f"{percentile(latencies, 0.5) * 1000:.1f} ms",
            f"{samples} questions, {embedder.name}",
        ),
        Row(
            name,
            "p99",
            f"{p99 * 1000:.1f} ms",
            f"seed budget {BUDGET_SECONDS:.0f} s: {p99 / BUDGET_SECONDS:.1%} of it",
        ),
    ]


async def streaming(embedder: Embedder, samples: int) -> list[Row]:
    """Time to the first characters on the channel with a model streaming 30 tokens/s."""
    firsts: list[float] = []
    wholes: list[float] = []
    async with run_fake_ollama(reply=_reply, delay_between_tokens=1 / TOKENS_PER_SECOND) as fake:
        with tempfile.TemporaryDirectory() as data_dir:
            service = await _service(Path(data_dir), None, embedder, llm=LLMMode.OLLAMA, ollama_url=fake.url)
            try:
                for index in range(samples):
                    first, whole = await _ask(service, QUESTIONS[index % len(QUESTIONS)])
                    firsts.append(first)
                    wholes.append(whole)
            finally:
                await service.stop()
    tokens = len(STREAMED_REPLY.split())
    name = f"streamed answer ({TOKENS_PER_SECOND} tokens/s, {tokens} tokens)"
    return [
        Row(
            name,
            "first characters on the channel p50",
            f"{percentile(firsts, 0.5) * 1000:.0f} ms",
            f"{samples} questions",
        ),
        Row(name, "whole answer on the channel p50", f"{percentile(wholes, 0.5) * 1000:.0f} ms"),
    ]


async def run(quick: bool) -> list[Row]:
    """Both measurements, with the local embedding model when it is available."""
    embedder: Embedder = LocalMiniLMEmbedder(load_settings().resolved_models_dir)
    try:
        await embedder.embed(["warm up"])
    except EmbeddingsUnavailable:
        embedder = HashingEmbedder()
    try:
        rows = await overhead(embedder, 40 if quick else 200)
        rows += await streaming(embedder, 3 if quick else 10)
    finally:
        await embedder.aclose()
    return rows


if __name__ == "__main__":
    run_alone(run, "python -m bench.responder", __doc__)
