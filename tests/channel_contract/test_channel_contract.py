"""The channel contract, run over every channel that reaches people: send errors mean the same thing
everywhere, forged webhooks are refused, redeliveries arrive with the same id, the sink is honoured
(nothing acknowledged that was not persisted), long messages are split within the platform's limit,
choices reach a person without buttons, and a person can opt out."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from bot.foundation.messages import Button, OutgoingMessage
from channels.base import (
    PermanentSendError,
    RecipientUnreachableError,
    SendError,
    TemporarySendError,
)
from channels.registry import plugins
from tests.channel_contract import harnesses as _harnesses  # registers the built-in harnesses
from tests.channel_contract.harness import HARNESSES, ChannelHarness, Refusal

assert _harnesses
_ids = itertools.count(1000)
# python-telegram-bot 22 warns inside its own RetryAfter (a 429) that the type will change in 23.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*attribute `retry_after` will be of type:telegram.warnings.PTBDeprecationWarning"
)


def _message_id() -> str:
    return str(next(_ids))  # digits: a Telegram update_id, and a fine id anywhere else


@pytest.fixture(params=sorted(HARNESSES))
async def running(request: pytest.FixtureRequest) -> AsyncIterator[ChannelHarness]:
    """Each channel's adapter, started against the fake of its platform."""
    async with HARNESSES[request.param]() as harness:
        yield harness


def test_every_channel_that_reaches_people_runs_the_contract() -> None:
    reaching = {name for name, plugin in plugins().items() if plugin.capabilities.speaks_first}

    assert reaching <= set(HARNESSES), f"channels without a contract harness: {reaching - set(HARNESSES)}"


async def test_the_adapter_is_the_channel_its_plugin_declares(running: ChannelHarness) -> None:
    plugin = plugins()[running.name]

    assert running.channel.name == plugin.name
    assert running.channel.capabilities == plugin.capabilities


# --- receiving -------------------------------------------------------------------------------------


async def test_a_message_reaches_the_sink_normalised_and_can_be_answered(running: ChannelHarness) -> None:
    response = await running.deliver(_message_id(), "hello there")

    assert response.is_success, response.text
    (message,) = running.inbox.messages
    assert message.channel == running.name and message.conversation.channel == running.name
    assert message.text == "hello there" and message.user_id and message.message_id
    result = await running.channel.send(OutgoingMessage(message.conversation, "hi back"))
    assert running.sent() == ["hi back"] and result.platform_message_id


async def test_a_forged_webhook_is_refused_and_never_reaches_the_sink(running: ChannelHarness) -> None:
    response = await running.deliver(_message_id(), "let me in", signed=False)

    assert response.status_code in (401, 403)
    assert running.inbox.deliveries == 0


async def test_a_redelivery_carries_the_same_id_so_it_is_answered_once(running: ChannelHarness) -> None:
    message_id = _message_id()

    first = await running.deliver(message_id, "once")
    again = await running.deliver(message_id, "once")

    assert first.is_success and again.is_success  # acknowledged, so the platform stops retrying
    assert running.inbox.deliveries == 2 and len(running.inbox.messages) == 1


async def test_nothing_is_acknowledged_that_was_not_persisted(running: ChannelHarness) -> None:
    running.inbox.fail_next = True

    response = await running.deliver(_message_id(), "are you there?")

    assert not response.is_success  # the platform delivers it again later
    assert running.inbox.messages == []


# --- sending ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("refusal", "error"),
    [
        (Refusal.RATE_LIMITED, TemporarySendError),
        (Refusal.RECIPIENT_GONE, RecipientUnreachableError),
        (Refusal.REJECTED, PermanentSendError),
    ],
)
async def test_platform_refusals_mean_the_same_everywhere(
    running: ChannelHarness, refusal: Refusal, error: type[SendError]
) -> None:
    running.refuse_next_send(refusal)

    with pytest.raises(error) as raised:
        await running.channel.send(OutgoingMessage(running.address(), "are you there?"))

    if refusal is Refusal.RATE_LIMITED:
        assert raised.value.retry_after is not None and raised.value.retry_after > 0
    if refusal is Refusal.REJECTED:
        assert not isinstance(raised.value, RecipientUnreachableError)
    # The refusal was one message's: the next goes out.
    await running.channel.send(OutgoingMessage(running.address(), "second try"))
    assert running.sent()[-1] == "second try"


async def test_a_long_message_is_split_within_the_platform_limit(running: ChannelHarness) -> None:
    limit = running.channel.capabilities.max_message_chars
    assert limit is not None, "a channel that reaches people declares its longest message"
    words = [f"word{index}" for index in range(limit // 3)]  # about 2.5 messages long
    message = OutgoingMessage(running.address(), " ".join(words) + ".")

    await running.channel.send(message)

    parts = running.sent()
    assert len(parts) >= 3 and all(len(part) <= limit for part in parts)
    assert all(word in " ".join(parts) for word in (words[0], words[len(words) // 2], words[-1]))
    assert running.channel.send_cost(message) >= len(parts)  # the outbox paces what is really sent


async def test_choices_reach_a_person_even_without_buttons(running: ChannelHarness) -> None:
    buttons = (Button("Yes, done", "yes"), Button("Not yet", "no"))

    await running.channel.send(OutgoingMessage(running.address(), "Did you walk today?", buttons=buttons))

    (text,) = running.sent()
    if not running.channel.capabilities.buttons:
        assert "Yes, done" in text and "Not yet" in text


async def test_a_person_can_opt_out(running: ChannelHarness) -> None:
    if running.opt_out_text is not None:
        # Typed: the platform's keyword arrives as the core's /optout.
        await running.deliver(_message_id(), running.opt_out_text)
        assert [message.text for message in running.inbox.messages] == ["/optout"]
    else:
        # By blocking the bot: the platform's refusal tells the core to stop writing.
        running.refuse_next_send(Refusal.RECIPIENT_GONE)
        with pytest.raises(RecipientUnreachableError):
            await running.channel.send(OutgoingMessage(running.address(), "still there?"))
