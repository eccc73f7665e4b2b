"""The reply generators: Ollama (the real client against a fake server), offline, and the fallback."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

import pytest

from bot.foundation.messages import Source
from coaching.generation import ChatTurn, ContextPassage, GenerationRequest, Generator, Persona
from coaching.llm import (
    CUT_SHORT_NOTICE,
    FallbackGenerator,
    GeneratorUnavailable,
    OllamaGenerator,
    build_generator,
    model_is_listed,
)
from coaching.offline import OfflineGenerator
from config.settings import Settings, load_settings
from tests.fakes.ollama_server import run_fake_ollama

MODEL = "llama3.1:8b"
# A model that never sends its first token while a test runs (the fake ends the wait when it stops):
# a test that returns at all proves the timeout fired, with no stopwatch.
NEVER = 3600.0
PERSONA = Persona(
    creator_name="Dana", system_prompt="You are Dana's coaching twin. Speak warmly and briefly."
)

SLEEP = ContextPassage(
    "Adults need seven to nine hours of sleep each night. A dark, cool bedroom helps you fall asleep. "
    "Keep the same wake-up time on weekends.",
    Source("sleep-guide.pdf", "page 3", 0.82),
)
FOOD = ContextPassage(
    "Eat a protein-rich breakfast within an hour of waking. Drink water before every meal.",
    Source("nutrition.md", "section 2", 0.41),
)


def ask(
    question: str,
    *,
    context: tuple[ContextPassage, ...] = (),
    history: tuple[ChatTurn, ...] = (),
    max_chars: int | None = None,
) -> GenerationRequest:
    """A request to Dana's twin."""
    return GenerationRequest(PERSONA, question, history=history, context=context, max_chars=max_chars)


def closed_port_url() -> str:
    """The URL of a local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class SteppedClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------------------------------- Ollama


async def test_generate_and_stream_return_the_models_text() -> None:
    reply = "Aim for seven to nine hours of sleep [1]."
    async with (
        run_fake_ollama(reply=reply) as server,
        aclosing(OllamaGenerator(server.url, MODEL, first_token_timeout=2.0)) as generator,
    ):
        generation = await generator.generate(ask("How much sleep?", context=(SLEEP,)))
        pieces = [piece async for piece in generator.stream(ask("How much sleep?", context=(SLEEP,)))]

    assert generation.text == reply
    assert generation.generator == "ollama"
    assert generation.fallback_reason is None
    assert len(pieces) > 1  # streamed token by token, not buffered into one piece
    assert "".join(pieces) == reply
    assert [request["stream"] for request in server.chat_requests] == [True, True]


async def test_system_prompt_context_history_and_question_reach_the_model() -> None:
    request = ask(
        "And on weekends?",
        context=(SLEEP, FOOD),
        history=(
            ChatTurn("user", "How much sleep do I need?"),
            ChatTurn("assistant", "Seven to nine hours."),
        ),
        max_chars=300,
    )
    async with (
        run_fake_ollama() as server,
        aclosing(OllamaGenerator(server.url, MODEL, first_token_timeout=2.0)) as generator,
    ):
        await generator.generate(request)

    (body,) = server.chat_requests
    assert body["model"] == MODEL
    roles = [message["role"] for message in body["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    system = body["messages"][0]["content"]
    assert system.startswith(PERSONA.system_prompt)
    assert f"[1] {SLEEP.text} (sleep-guide.pdf, page 3)" in system
    assert f"[2] {FOOD.text} (nutrition.md, section 2)" in system
    assert "only from" in system and "[n]" in system
    assert "300 characters" in system
    assert [message["content"] for message in body["messages"][1:]] == [
        "How much sleep do I need?",
        "Seven to nine hours.",
        "And on weekends?",
    ]


async def test_without_context_or_length_the_system_prompt_is_the_personas() -> None:
    async with (
        run_fake_ollama() as server,
        aclosing(OllamaGenerator(server.url, MODEL, first_token_timeout=2.0)) as generator,
    ):
        await generator.generate(ask("Hello?"))

    assert server.chat_requests[0]["messages"][0] == {"role": "system", "content": PERSONA.system_prompt}


async def test_check_is_real_when_the_model_is_pulled() -> None:
    async with (
        run_fake_ollama(models=["nomic-embed-text:latest", MODEL]) as server,
        aclosing(OllamaGenerator(server.url, MODEL, first_token_timeout=1.0)) as generator,
    ):
        status = await generator.check()

    assert status.state == "real"
    assert status.detail == f"Ollama at {server.url}, model {MODEL}"
    assert [request.path for request in server.requests] == ["/api/tags"]


async def test_check_is_degraded_when_the_model_is_not_pulled() -> None:
    async with (
        run_fake_ollama(models=["llama3.1:70b"]) as server,
        aclosing(OllamaGenerator(server.url, MODEL, first_token_timeout=1.0)) as generator,
    ):
        status = await generator.check()

    assert status.state == "degraded"
    assert f"model {MODEL} is not pulled" in status.detail
    assert f"run `ollama pull {MODEL}`" in status.detail


async def test_check_is_degraded_when_ollama_is_unreachable() -> None:
    url = closed_port_url()
    async with aclosing(OllamaGenerator(url, MODEL, first_token_timeout=1.0)) as generator:
        status = await generator.check()

    assert status.state == "degraded"
    assert status.detail.startswith(f"Ollama at {url} did not answer (")


def test_a_model_name_without_tag_means_latest() -> None:
    assert model_is_listed("llama3.1:8b", ["llama3.1:8b"])
    assert model_is_listed("llama3", ["llama3:latest"])
    assert model_is_listed("llama3:latest", ["llama3"])
    assert not model_is_listed("llama3", ["llama3:8b"])
    assert not model_is_listed("llama3.1:8b", ["llama3.1:70b"])


async def test_an_unknown_model_on_chat_is_unavailable_with_the_pull_hint() -> None:
    async with (
        run_fake_ollama(models=["other:latest"]) as server,
        aclosing(OllamaGenerator(server.url, MODEL, first_token_timeout=1.0)) as generator,
    ):
        with pytest.raises(GeneratorUnavailable, match=r"ollama pull llama3\.1:8b"):
            await generator.generate(ask("Hi there, what should I eat?"))


async def test_an_unreachable_server_is_unavailable() -> None:
    async with aclosing(OllamaGenerator(closed_port_url(), MODEL, first_token_timeout=1.0)) as generator:
        with pytest.raises(GeneratorUnavailable, match="connection refused"):
            await generator.generate(ask("What should I eat?"))


async def test_a_late_first_token_is_unavailable_after_first_token_timeout() -> None:
    async with (
        run_fake_ollama(delay_before_first_token=NEVER) as server,
        aclosing(OllamaGenerator(server.url, MODEL, first_token_timeout=0.3)) as generator,
    ):
        with pytest.raises(GeneratorUnavailable, match=r"no token within 0\.3 s"):
            await generator.generate(ask("What should I eat?"))  # returning at all is the timeout


async def test_a_slow_answer_is_unavailable_after_total_timeout() -> None:
    words = " ".join(f"word{n}" for n in range(20))
    async with run_fake_ollama(reply=words, delay_between_tokens=0.1) as server:
        generator = OllamaGenerator(server.url, MODEL, first_token_timeout=0.3, total_timeout=0.5)
        async with aclosing(generator):
            with pytest.raises(GeneratorUnavailable, match=r"did not finish .* within 0\.5 s"):
                await generator.generate(ask("Tell me everything."))


async def test_an_error_in_the_middle_of_the_stream_is_unavailable() -> None:
    async with (
        run_fake_ollama(reply="one two three four five", error_after_tokens=2) as server,
        aclosing(OllamaGenerator(server.url, MODEL, first_token_timeout=1.0)) as generator,
    ):
        pieces: list[str] = []
        with pytest.raises(GeneratorUnavailable, match="error was encountered"):
            async for piece in generator.stream(ask("Count to five.")):
                pieces.append(piece)

    assert pieces == ["one ", "two "]


# ---------------------------------------------------------------------------------------------- Fallback


def fallback_over(
    url: str,
    *,
    first_token_timeout: float = 1.0,
    recheck_interval: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
) -> FallbackGenerator:
    """Ollama at `url` with the offline generator behind it."""
    primary = OllamaGenerator(url, MODEL, first_token_timeout=first_token_timeout)
    return FallbackGenerator(primary, OfflineGenerator(), recheck_interval=recheck_interval, clock=clock)


async def test_fallback_uses_the_primary_while_it_answers() -> None:
    async with (
        run_fake_ollama(reply="From the model.") as server,
        aclosing(fallback_over(server.url)) as generator,
    ):
        generation = await generator.generate(ask("How much sleep?", context=(SLEEP,)))
        status = await generator.check()

        assert generation.text == "From the model."
        assert generation.generator == "ollama"
        assert generation.fallback_reason is None
        assert status.state == "real"
        assert not generator.using_fallback


async def test_fallback_answers_offline_soon_after_a_late_first_token() -> None:
    async with (
        run_fake_ollama(reply="Too late.", delay_before_first_token=NEVER) as server,
        aclosing(fallback_over(server.url, first_token_timeout=0.3)) as generator,
    ):
        generation = await generator.generate(ask("How much sleep do adults need?", context=(SLEEP,)))

        assert generator.using_fallback  # answered although the model never would have
    assert len(server.chat_requests) == 1  # the primary was really asked first
    assert generation.generator == "offline"
    assert generation.fallback_reason is not None and "no token within 0.3 s" in generation.fallback_reason
    assert "seven to nine hours of sleep" in generation.text
    assert "Too late" not in generation.text


async def test_fallback_stream_switches_to_offline_when_the_primary_fails_before_its_first_piece() -> None:
    async with (
        run_fake_ollama(delay_before_first_token=NEVER) as server,
        aclosing(fallback_over(server.url, first_token_timeout=0.3)) as generator,
    ):
        pieces = [
            piece async for piece in generator.stream(ask("How much sleep do adults need?", context=(SLEEP,)))
        ]

    offline = await OfflineGenerator().generate(ask("How much sleep do adults need?", context=(SLEEP,)))
    assert "".join(pieces) == offline.text


@pytest.mark.parametrize("failure", ["error_after_tokens", "drop_after_tokens"])
async def test_fallback_stream_says_plainly_where_the_primary_failed_midway(failure: str) -> None:
    """An in-stream error, or the server dropping the connection mid-answer."""
    async with (
        run_fake_ollama(reply="one two three four five", **{failure: 2}) as server,
        aclosing(fallback_over(server.url)) as generator,
    ):
        pieces = [piece async for piece in generator.stream(ask("How much sleep?", context=(SLEEP,)))]

        assert generator.using_fallback
    # The pieces already sent stand, nothing from the offline generator is glued onto them, and
    # the person is told that the answer was cut.
    assert pieces == ["one ", "two ", CUT_SHORT_NOTICE]


async def test_a_dropped_connection_mid_stream_is_unavailable() -> None:
    async with (
        run_fake_ollama(reply="one two three four five", drop_after_tokens=3) as server,
        aclosing(OllamaGenerator(server.url, MODEL, first_token_timeout=1.0)) as generator,
    ):
        pieces: list[str] = []
        with pytest.raises(GeneratorUnavailable):
            async for piece in generator.stream(ask("Count to five.")):
                pieces.append(piece)

    assert pieces == ["one ", "two ", "three "]


async def test_fallback_leaves_a_failed_primary_alone_until_recheck_interval_has_passed() -> None:
    clock = SteppedClock()
    async with run_fake_ollama(models=["other:latest"], reply="Model is back.") as server:
        generator = fallback_over(server.url, recheck_interval=30.0, clock=clock)
        async with aclosing(generator):
            first = await generator.generate(ask("Hi there, what should I eat?", context=(FOOD,)))
            assert first.generator == "offline"
            assert first.fallback_reason is not None and "ollama pull" in first.fallback_reason
            assert len(server.chat_requests) == 1

            clock.now += 29.0
            second = await generator.generate(ask("What should I drink?", context=(FOOD,)))
            assert second.generator == "offline"
            assert second.fallback_reason is not None and "unavailable" in second.fallback_reason
            assert len(server.chat_requests) == 1  # not retried within the interval

            server.models = [MODEL]
            clock.now += 1.5
            third = await generator.generate(ask("What should I drink?", context=(FOOD,)))
            assert len(server.chat_requests) == 2  # retried once the interval passed
            assert third.generator == "ollama"
            assert third.text == "Model is back."
            assert not generator.using_fallback


async def test_fallback_check_reports_offline_when_the_primary_is_unreachable() -> None:
    clock = SteppedClock()
    async with aclosing(fallback_over(closed_port_url(), clock=clock)) as generator:
        status = await generator.check()
        assert generator.using_fallback
        # The failed check counts: the next reply does not wait for the primary.
        generation = await generator.generate(ask("How much sleep do adults need?", context=(SLEEP,)))

    assert status.state == "degraded"
    assert status.detail.startswith("offline: Ollama at ")
    assert "did not answer" in status.detail
    assert status.detail.endswith("replies come from the offline generator")
    assert generation.generator == "offline"


async def test_fallback_check_reports_a_missing_model_as_offline() -> None:
    async with (
        run_fake_ollama(models=["other:latest"]) as server,
        aclosing(fallback_over(server.url)) as generator,
    ):
        status = await generator.check()

    assert status.state == "degraded"
    assert "offline" in status.detail
    assert f"ollama pull {MODEL}" in status.detail


# ---------------------------------------------------------------------------------------------- build


def settings(**values: Any) -> Settings:
    """Settings from these values (and the environment), ignoring any `.env` file."""
    # `_env_file` is pydantic-settings' init-time switch; mypy sees only the declared fields.
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def test_build_generator_offline_mode_needs_no_server() -> None:
    generator = build_generator(settings(llm="offline"))
    async with aclosing(generator):
        status = await generator.check()

    assert isinstance(generator, OfflineGenerator)
    assert status.state == "real"


async def test_build_generator_auto_mode_puts_ollama_in_front_of_offline() -> None:
    generator = build_generator(
        settings(llm="auto", ollama_url="http://127.0.0.1:9", llm_first_token_timeout=4.0, llm_timeout=4.0)
    )
    async with aclosing(generator):
        assert isinstance(generator, FallbackGenerator)
        assert isinstance(generator.primary, OllamaGenerator)
        assert isinstance(generator.fallback, OfflineGenerator)
        assert generator.primary.model == "llama3.1:8b"
        assert generator.primary.first_token_timeout == 4.0
        assert generator.primary.total_timeout == 64.0  # 4 + max(60, 6 * 4)

    generator = build_generator(settings(llm="auto", llm_timeout=20.0))
    async with aclosing(generator):
        assert isinstance(generator, FallbackGenerator)
        assert isinstance(generator.primary, OllamaGenerator)
        assert generator.primary.first_token_timeout == 60.0  # the default fits a model on a CPU
        assert generator.primary.total_timeout == 180.0  # 60 + 6 * 20


async def test_the_first_token_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACH_LLM_FIRST_TOKEN_TIMEOUT", "90")
    generator = build_generator(load_settings())
    async with aclosing(generator):
        assert isinstance(generator, FallbackGenerator)
        assert isinstance(generator.primary, OllamaGenerator)
        assert generator.primary.first_token_timeout == 90.0


async def test_fallback_counts_answers_given_offline_for_want_of_a_first_token() -> None:
    async with run_fake_ollama(delay_before_first_token=NEVER) as server:
        primary = OllamaGenerator(server.url, MODEL, first_token_timeout=0.2)
        generator = FallbackGenerator(primary, OfflineGenerator(), recheck_interval=0.0)
        async with aclosing(generator):
            first = await generator.generate(ask("What should I eat?"))
            second = await generator.generate(ask("And for lunch?"))
            status = await generator.check()

    assert first.generator == second.generator == "offline"
    assert generator.first_token_fallbacks == 2
    assert (
        "2 answers fell back to the offline generator because the model sent no first token" in status.detail
    )
    assert "within 0.2 s (COACH_LLM_FIRST_TOKEN_TIMEOUT)" in status.detail


async def test_build_generator_ollama_mode_says_so_when_the_server_is_away() -> None:
    generator = build_generator(settings(llm="ollama", ollama_url=closed_port_url()))
    async with aclosing(generator):
        status = await generator.check()
        generation = await generator.generate(ask("Hello!"))

    assert status.state == "degraded"
    assert status.detail.startswith("COACH_LLM=ollama but Ollama at ")
    assert "offline" in status.detail
    assert generation.generator == "offline"  # users still get a reply


async def test_every_generator_implements_the_protocol() -> None:
    async with aclosing(fallback_over(closed_port_url())) as fallback:
        assert isinstance(fallback, Generator)
        assert isinstance(fallback.primary, Generator)
    assert isinstance(OfflineGenerator(), Generator)


# ---------------------------------------------------------------------------------------------- Offline


async def test_offline_answers_from_the_overlapping_sentence_and_cites_it() -> None:
    generation = await OfflineGenerator().generate(
        ask("How many hours of sleep do I need?", context=(FOOD, SLEEP))
    )

    assert generation.generator == "offline"
    assert "seven to nine hours of sleep" in generation.text
    assert "[2]" in generation.text  # SLEEP is the second passage
    assert "[1]" not in generation.text
    assert "protein" not in generation.text


async def test_offline_combines_passages_in_reading_order_with_their_numbers() -> None:
    generation = await OfflineGenerator().generate(
        ask("What about sleep and breakfast?", context=(SLEEP, FOOD))
    )

    text = generation.text
    assert "[1]" in text and "[2]" in text
    assert text.index("sleep") < text.index("breakfast")  # passage order, not score order
    assert text.index("[1]") < text.index("[2]")


async def test_offline_prefers_the_more_relevant_passage_when_space_is_short() -> None:
    low = ContextPassage("Walking after dinner helps digestion a lot.", Source("a.md", "p1", 0.1))
    high = ContextPassage("Walking every morning builds a steady habit.", Source("b.md", "p1", 0.9))
    generation = await OfflineGenerator().generate(ask("Is walking good?", context=(low, high), max_chars=60))

    assert "every morning" in generation.text
    assert "[2]" in generation.text
    assert len(generation.text) <= 60


async def test_offline_respects_max_chars() -> None:
    long_passage = ContextPassage(
        " ".join(
            f"Sleep habit number {n} is to keep a calm routine before bed every night." for n in range(12)
        ),
        Source("sleep-guide.pdf", "page 9", 0.7),
    )
    for max_chars in (40, 120, 300):
        generation = await OfflineGenerator().generate(
            ask("What sleep routine before bed?", context=(long_passage,), max_chars=max_chars)
        )
        assert len(generation.text) <= max_chars
        assert "[1]" in generation.text
    default = await OfflineGenerator().generate(
        ask("What sleep routine before bed?", context=(long_passage,))
    )
    assert len(default.text) <= 700


@pytest.mark.parametrize("context", [(), (FOOD,)], ids=["no context", "unrelated context"])
async def test_offline_declines_honestly_without_matching_material(
    context: tuple[ContextPassage, ...],
) -> None:
    generation = await OfflineGenerator().generate(ask("How do I fix my golf swing?", context=context))

    assert "Dana's materials don't cover that yet" in generation.text
    assert "ask Dana" in generation.text
    assert "protein" not in generation.text and "[1]" not in generation.text


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Hi!", "Hi! I'm Dana's coaching assistant. Ask me anything about Dana's materials."),
        ("good morning Dana", "Hi! I'm Dana's coaching assistant."),
        ("Hey there", "Hi! I'm Dana's coaching assistant."),
        ("Thanks so much!", "You're welcome!"),
        ("thank you for the help", "You're welcome!"),
        ("ok bye", "Bye for now!"),
    ],
)
async def test_offline_answers_small_talk_briefly(message: str, expected: str) -> None:
    generation = await OfflineGenerator().generate(ask(message, context=(SLEEP,)))

    assert generation.text.startswith(expected)
    assert "[1]" not in generation.text


async def test_offline_a_greeting_with_a_question_is_a_question() -> None:
    generation = await OfflineGenerator().generate(
        ask("Hi! How much sleep do adults need?", context=(SLEEP,))
    )

    assert "seven to nine hours" in generation.text


async def test_offline_stream_gives_the_same_text_in_pieces() -> None:
    request = ask("How many hours of sleep do adults need, and how should the bedroom be?", context=(SLEEP,))
    pieces = [piece async for piece in OfflineGenerator().stream(request)]
    whole = await OfflineGenerator().generate(request)

    assert len(pieces) > 1
    assert "".join(pieces) == whole.text


async def test_offline_check_is_real() -> None:
    status = await OfflineGenerator().check()

    assert status.state == "real"
    assert status.detail == "offline generator (extractive, no model)"
