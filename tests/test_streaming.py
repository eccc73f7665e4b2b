"""Slow answers go out paragraph by paragraph; fast ones stay one message; the transcript stays whole."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from bot.models import HistoryMessage
from bot.runtime import Coachline
from bot.streaming import ReplyStream
from coaching.llm import CUT_SHORT_NOTICE
from tests.fakes.ollama_server import run_fake_ollama
from tests.support.chat import ChatDriver

PARAGRAPHS = [
    "Start with one small change this week, such as a short walk after dinner every day.",
    "Next, keep a simple log of what you ate and how you felt, so that patterns show up.",
    "Finally, review the log on Sunday and pick the one habit that helped most to keep.",
]


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _stream(text: str, ticker: Ticker, seconds_per_piece: float) -> tuple[list[str], str]:
    sent: list[str] = []

    async def send(part: str) -> None:
        sent.append(part)

    stream = ReplyStream(send, first_after=1.0, min_chars=40, monotonic=ticker)
    for word in text.split(" "):
        ticker.now += seconds_per_piece
        await stream.feed(word + " ")
    return sent, stream.remainder()


async def test_a_fast_answer_stays_one_message() -> None:
    sent, remainder = await _stream("\n\n".join(PARAGRAPHS), Ticker(), seconds_per_piece=0.001)

    assert sent == []
    assert remainder == "\n\n".join(PARAGRAPHS)


async def test_a_slow_answer_sends_finished_paragraphs_and_keeps_the_last_for_the_end() -> None:
    sent, remainder = await _stream("\n\n".join(PARAGRAPHS), Ticker(), seconds_per_piece=0.2)

    assert sent == PARAGRAPHS[:2]
    assert remainder == PARAGRAPHS[2]


async def test_a_long_paragraph_is_cut_at_a_sentence_end() -> None:
    text = " ".join(PARAGRAPHS * 3)  # one paragraph of nine sentences

    sent, remainder = await _stream(text, Ticker(), seconds_per_piece=0.2)

    assert sent and all(part.endswith(".") for part in sent)
    assert " ".join([*sent, remainder]) == text
    assert remainder


async def test_a_model_streaming_slowly_reaches_the_channel_before_it_finishes(
    make_service: Callable[..., Coachline],
) -> None:
    reply = "\n\n".join(PARAGRAPHS)
    async with run_fake_ollama(reply=reply, delay_between_tokens=0.05) as fake:
        service = make_service(llm="ollama", ollama_url=fake.url, generator=None)
        await service.start()
        try:
            chat = ChatDriver(service, user_id="reader")
            await chat.send("How do I build better habits?")
            await chat.expect_reply()
            rows = await service.outbox.rows_for_inbox(chat._last_inbox_id or 0)
            async with service.sessions() as session:
                said = list(
                    await session.scalars(
                        select(HistoryMessage.text).where(HistoryMessage.role == "assistant")
                    )
                )
        finally:
            await service.stop()

    assert len(rows) >= 2
    assert rows[0].created_at < rows[-1].created_at  # the first part was queued while the model still wrote
    assert "\n\n".join(row.text for row in rows) == reply
    assert said == [reply]  # the transcript (the memory) holds the answer once, whole


async def test_a_model_dying_mid_answer_leaves_the_person_told_it_was_cut(
    make_service: Callable[..., Coachline],
) -> None:
    reply = "\n\n".join(PARAGRAPHS)
    words_before_the_drop = len(PARAGRAPHS[0].split()) + 5
    async with run_fake_ollama(
        reply=reply, delay_between_tokens=0.02, drop_after_tokens=words_before_the_drop
    ) as fake:
        service = make_service(llm="ollama", ollama_url=fake.url, generator=None)
        await service.start()
        try:
            chat = ChatDriver(service, user_id="reader")
            await chat.send("How do I build better habits?")
            await chat.expect_reply()
            rows = await service.outbox.rows_for_inbox(chat._last_inbox_id or 0)
        finally:
            await service.stop()

    said = "\n\n".join(row.text for row in rows)
    assert said.startswith(PARAGRAPHS[0])  # what the model wrote before it died is kept
    assert PARAGRAPHS[2] not in said
    assert said.endswith(CUT_SHORT_NOTICE.strip())  # and the person is told the rest is missing
