"""The core conversation: commands, chat through the model, memory and /reset — on every database."""

from __future__ import annotations

from collections.abc import Callable

from bot.foundation.clock import FakeClock
from bot.runtime import Coachline
from coaching.fake_generator import ScriptedGenerator
from tests.support.chat import ChatDriver
from tests.support.waiting import until_progress


async def test_start_greets_as_the_default_creators_twin(service: Coachline) -> None:
    chat = ChatDriver(service, user_name="Alice")

    await chat.send("/start")

    reply = await chat.expect_reply(contains="Hi Alice!")
    assert service.settings.default_creator_name in reply
    assert "/help" in reply


async def test_help_lists_only_what_a_user_may_do(service: Coachline) -> None:
    chat = ChatDriver(service)

    await chat.send("/help")

    reply = await chat.expect_reply(contains="/reset")
    assert "/start" in reply


async def test_chat_goes_to_the_model_with_the_creator_persona(
    service: Coachline, generator: ScriptedGenerator
) -> None:
    chat = ChatDriver(service)

    await chat.send("How do I start running?")

    await chat.expect_reply(contains="echo: How do I start running?")
    request = generator.requests[-1]
    assert request.question == "How do I start running?"
    assert service.settings.default_creator_name in request.persona.system_prompt


async def test_memory_carries_earlier_turns_and_reset_forgets_them(
    service: Coachline, generator: ScriptedGenerator
) -> None:
    chat = ChatDriver(service)
    await chat.ask("My goal is a marathon.")
    await chat.ask("What should I eat?")

    remembered = [turn.text for turn in generator.requests[-1].history]
    assert remembered == ["My goal is a marathon.", "echo: My goal is a marathon."]

    await chat.send("/reset")
    await chat.expect_reply(contains="forgotten")
    await chat.ask("Where were we?")

    assert generator.requests[-1].history == ()


async def test_commands_stay_out_of_the_model_memory(
    service: Coachline, generator: ScriptedGenerator
) -> None:
    chat = ChatDriver(service)
    await chat.ask("/help")
    await chat.ask("Hello there")

    assert generator.requests[-1].history == ()


async def test_memory_is_per_person(service: Coachline, generator: ScriptedGenerator) -> None:
    await ChatDriver(service, user_id="alice").ask("Alice's secret plan")
    await ChatDriver(service, user_id="bob").ask("Hi")

    assert all("Alice" not in turn.text for turn in generator.requests[-1].history)


async def test_unknown_command_points_at_help(service: Coachline) -> None:
    chat = ChatDriver(service)
    await chat.send("/frobnicate now")
    await chat.expect_reply(contains="/help")


async def test_telegram_style_bot_suffix_is_understood(service: Coachline) -> None:
    chat = ChatDriver(service)
    await chat.send("/help@CoachTwinBot")
    await chat.expect_reply(contains="/reset")


async def test_empty_message_is_answered_without_the_model(
    service: Coachline, generator: ScriptedGenerator
) -> None:
    chat = ChatDriver(service)
    await chat.send("   ")
    await chat.expect_reply(contains="didn't catch")
    assert generator.requests == []


async def test_overlong_message_is_explained_not_sent_to_the_model(
    service: Coachline, generator: ScriptedGenerator
) -> None:
    chat = ChatDriver(service)
    await chat.send("x" * 100_000)
    await chat.expect_reply(contains="too long")
    assert generator.requests == []


async def test_a_failing_model_is_retried_then_the_person_gets_an_apology(
    make_service: Callable[..., Coachline], clock: FakeClock
) -> None:
    generator = ScriptedGenerator()
    generator.fail_next = 10  # every attempt fails
    service = make_service(generator=generator, clock=clock)
    await service.start()
    try:
        chat = ChatDriver(service)
        inbox_id = await chat.send("Will this work?")

        async def answered() -> bool:  # retries wait out a backoff on the service clock: move it along
            if (await service.wait_for_replies(inbox_id, 0)).finished:
                return True
            clock.advance(60)
            return False

        await until_progress(service, answered, "the apology after the last retry")
        reply = await chat.expect_reply(contains="something went wrong")
    finally:
        await service.stop()

    assert "Will this work?" not in reply
    assert len(generator.requests) == service.inbox.max_attempts
