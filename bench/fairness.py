"""Fairness under a flood: one sender sends N messages, then another asks one question.

Measured: how long the other sender waits for the answer (from sending to the reply being settled),
with the per-sender limit on (the defaults) and off, the model taking 20 ms an answer, and how fast
the flood is accepted. Before pacing and round-robin claims, the other sender waited behind the
whole flood (issue 16: a 504 after 90 s with 7,519 messages queued).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

from bench.stats import Row, run_alone
from bot.composition import build_service
from bot.foundation.messages import ConversationReference, IncomingMessage
from bot.runtime import Coachline
from channels.web import WebChannel
from coaching.fake_generator import ScriptedGenerator
from config import LLMMode, Settings, load_settings

BENCH = "fairness: a flood from one sender"
MODEL_SECONDS = 0.02


def _message(service: Coachline, sender: str, text: str) -> IncomingMessage:
    return IncomingMessage(
        channel="web",
        user_id=sender,
        conversation=ConversationReference("web", sender),
        message_id=uuid.uuid4().hex,
        text=text,
        received_at=service.now(),
    )


async def _measure(flood: int, sender_rate: float) -> tuple[float, float, int]:
    """(other sender's wait in s, flood accepts a second, messages set aside)."""
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(data_dir),
            api_key="bench-admin-key",
            llm=LLMMode.OFFLINE,
            log_level="WARNING",
            sender_rate=sender_rate,
            models_dir=load_settings().resolved_models_dir,
        )
        service = build_service(
            settings, channels={"web": WebChannel()}, generator=ScriptedGenerator(delay_seconds=MODEL_SECONDS)
        )
        await service.start()
        try:
            started = time.perf_counter()
            set_aside = 0
            for index in range(flood):
                receipt = await service.receive(_message(service, "flooder", f"spam {index}"))
                set_aside += receipt.throttled
            accept_rate = flood / (time.perf_counter() - started)
            asked = time.perf_counter()
            receipt = await service.receive(_message(service, "someone", "a real question"))
            outcome = await service.wait_for_replies(receipt.inbox_id, 120)
            waited = time.perf_counter() - asked
            if not outcome.finished:
                raise AssertionError("the other sender got no answer within 120 s")
        finally:
            await service.stop()
    return waited, accept_rate, set_aside


async def run(quick: bool = False) -> list[Row]:
    """The other sender's wait behind a 10,000-message flood (1,000 with --quick).

    With the limit off the flood is 1,000 (300 with --quick): every message then waits in the
    inbox, and each claim groups the whole backlog, so it grows with the square of the flood.
    """
    rows: list[Row] = []
    for label, rate, flood in (
        ("limit on (20/min, burst 10)", 20.0, 1_000 if quick else 10_000),
        ("limit off", 0.0, 300 if quick else 1_000),
    ):
        waited, accept_rate, set_aside = await _measure(flood, rate)
        name = f"{BENCH} ({flood:,} messages, {label})"
        rows.append(
            Row(
                name,
                "other sender's answer",
                f"{waited * 1000:.0f} ms",
                f"model {MODEL_SECONDS * 1000:.0f} ms",
            )
        )
        rows.append(
            Row(name, "flood accepted", f"{accept_rate:.0f} msg/s", f"{set_aside:,} set aside unanswered")
        )
    return rows


if __name__ == "__main__":
    run_alone(run, "python -m bench.fairness", __doc__)
