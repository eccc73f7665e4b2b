"""Each sender's fair share: a per-sender rate with one "slow down", round-robin claims, inbox lag."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.foundation.clock import FakeClock
from bot.foundation.db import create_engine, session_factory
from bot.foundation.messages import ConversationReference, IncomingMessage
from bot.foundation.tables import OutboxMessage
from bot.inbox import Inbox
from bot.metrics import render_metrics
from bot.models import InboxMessage
from bot.outbox import Outbox
from bot.pacing import SLOW_DOWN, SenderRate
from bot.runtime import Coachline
from channels.plugin import Capabilities
from coaching.fake_generator import ScriptedGenerator
from tests.conftest import ADMIN_KEY
from tests.support.asgi_server import serve_asgi
from tests.support.channels import RecordingChannel
from tests.support.waiting import HANG_SECONDS

_sequence = iter(range(1_000_000))


def message(sender: str, text: str, clock: FakeClock, channel: str = "telegram") -> IncomingMessage:
    """A private-chat message from `sender`."""
    return IncomingMessage(
        channel=channel,
        user_id=sender,
        conversation=ConversationReference(channel, sender),
        message_id=f"m{next(_sequence)}",
        text=text,
        received_at=clock.now(),
    )


@pytest.fixture
async def inbox_on(database_url: str) -> AsyncIterator[Callable[..., tuple[Inbox, Outbox]]]:
    """Build an inbox (no workers) on each database backend."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)

    def build(clock: FakeClock, rate: SenderRate) -> tuple[Inbox, Outbox]:
        outbox = Outbox(sessions, clock, instance_id="test", lease_seconds=30, max_attempts=3)
        inbox = Inbox(sessions, clock, instance_id="test", lease_seconds=30, rate=rate, outbox=outbox)
        return inbox, outbox

    yield build
    await engine.dispose()


async def finish(inbox: Inbox, inbox_id: int) -> None:
    async with inbox._sessions.begin() as session:
        assert await inbox.finish(session, inbox_id, status="done")


async def test_claims_take_one_message_per_sender_and_none_while_its_last_is_in_hand(
    inbox_on: Callable[..., tuple[Inbox, Outbox]], clock: FakeClock
) -> None:
    inbox, _ = inbox_on(clock, SenderRate(per_minute=0, burst=1))
    flood = [await inbox.accept(message("flooder", f"spam {n}", clock)) for n in range(20)]
    other = await inbox.accept(message("other", "a real question", clock))

    first = await inbox.claim(10)
    while_busy = await inbox.claim(10)
    await finish(inbox, flood[0].inbox_id)
    after = await inbox.claim(10)

    assert [row.id for row in first] == [flood[0].inbox_id, other.inbox_id]
    assert while_busy == []  # the flooder's next waits for its previous; other's is in hand
    assert [row.id for row in after] == [flood[1].inbox_id]


async def test_a_message_whose_lease_ran_out_is_claimed_again_before_its_senders_next(
    inbox_on: Callable[..., tuple[Inbox, Outbox]], clock: FakeClock
) -> None:
    inbox, _ = inbox_on(clock, SenderRate(per_minute=0, burst=1))
    ours = [await inbox.accept(message("sam", f"question {n}", clock)) for n in range(3)]
    theirs = await inbox.accept(message("kim", "another question", clock))
    first = await inbox.claim(10)
    clock.advance(31)  # the 30 s lease runs out: the instance holding them died
    survivor = Inbox(inbox._sessions, clock, instance_id="survivor", lease_seconds=30)

    again = await survivor.claim(10)
    meanwhile = await survivor.claim(10)

    assert [row.id for row in first] == [ours[0].inbox_id, theirs.inbox_id]
    assert [row.id for row in again] == [ours[0].inbox_id, theirs.inbox_id]  # not sam's next
    assert [row.attempts for row in again] == [2, 2]
    assert meanwhile == []  # sam's next waits for the one in the survivor's hands
    assert await inbox.claim(10, held={ours[0].inbox_id}) == []  # in hand elsewhere, lease running


async def test_a_senders_next_message_waits_while_we_still_hold_one_whose_lease_ran_out(
    inbox_on: Callable[..., tuple[Inbox, Outbox]], clock: FakeClock
) -> None:
    inbox, _ = inbox_on(clock, SenderRate(per_minute=0, burst=1))
    first, second = [await inbox.accept(message("sam", f"question {n}", clock)) for n in range(2)]
    (taken,) = await inbox.claim(10)
    clock.advance(31)  # a slow answer: our lease ran out while we still work on the first

    assert taken.id == first.inbox_id
    assert await inbox.claim(10, held={first.inbox_id}) == []  # not the second beside it
    await finish(inbox, first.inbox_id)  # late, but nobody else took it: still ours to finish
    assert [row.id for row in await inbox.claim(10)] == [second.inbox_id]


async def test_a_new_sender_is_claimed_before_the_rest_of_a_flood(
    inbox_on: Callable[..., tuple[Inbox, Outbox]], clock: FakeClock
) -> None:
    inbox, _ = inbox_on(clock, SenderRate(per_minute=0, burst=1))
    flood = [await inbox.accept(message("flooder", f"spam {n}", clock)) for n in range(20)]
    clock.advance(1)
    other = await inbox.accept(message("other", "a real question", clock))

    order = []
    for _ in range(4):  # one worker: claim one, answer it, claim the next
        (row,) = await inbox.claim(1)
        order.append(row.id)
        await finish(inbox, row.id)

    assert order[:3] == [flood[0].inbox_id, flood[1].inbox_id, other.inbox_id]


async def test_over_the_rate_a_sender_is_told_once_and_nothing_is_dropped(
    inbox_on: Callable[..., tuple[Inbox, Outbox]], clock: FakeClock
) -> None:
    inbox, _ = inbox_on(clock, SenderRate(per_minute=6, burst=3))  # 10 s apart after 3 at once
    receipts = [await inbox.accept(message("flooder", f"spam {n}", clock)) for n in range(8)]
    clock.advance(10)  # one place frees up
    later = await inbox.accept(message("flooder", "after a pause", clock))
    again = await inbox.accept(message("flooder", "too soon again", clock))
    clock.advance(31)  # past the window (3 x 10 s): a full burst again, and the next excess is told
    refilled = [await inbox.accept(message("flooder", text, clock)) for text in "abc"]
    much_later = await inbox.accept(message("flooder", "d", clock))

    assert [receipt.throttled for receipt in receipts] == [False] * 3 + [True] * 5
    assert (later.throttled, again.throttled) == (False, True)
    async with inbox._sessions() as session:
        stored = await session.scalar(select(func.count()).select_from(InboxMessage))
        notices = list(
            await session.scalars(select(OutboxMessage.inbox_id).where(OutboxMessage.text == SLOW_DOWN))
        )
    assert stored == 14  # every message is kept
    assert not any(receipt.throttled for receipt in refilled)
    assert much_later.throttled
    assert notices == [receipts[3].inbox_id, much_later.inbox_id]  # once per run of excess


async def test_a_flood_delays_only_its_sender(
    make_service: Callable[..., Coachline], clock: FakeClock
) -> None:
    """300 messages from one sender, then one from another: that one is answered second."""
    generator = ScriptedGenerator()
    service = make_service(
        generator=generator, clock=clock, worker_concurrency=1, sender_rate=20, sender_burst=10
    )
    flood = [await service.receive(message("flooder", f"spam {n}", clock, "web")) for n in range(300)]
    question = await service.receive(message("someone", "a real question", clock, "web"))
    await service.start()
    try:
        outcome = await service.wait_for_replies(question.inbox_id, HANG_SECONDS)
        answered_before = [request.question for request in generator.requests]
        async with service.sessions() as session:
            told = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.text == SLOW_DOWN)
            )
    finally:
        await service.stop()

    assert outcome.finished and outcome.replies[0].text == "echo: a real question"
    assert answered_before[:2] == ["spam 0", "a real question"]
    assert sum(receipt.throttled for receipt in flood) == 290  # a burst of 10 was taken
    assert told == 1


async def test_inbox_lag_degrades_health_and_shows_in_metrics(
    make_service: Callable[..., Coachline], clock: FakeClock
) -> None:
    service = make_service(clock=clock, inbox_lag_degraded_seconds=30)
    try:  # not started: nothing answers, so the messages wait
        await service.receive(message("waiting", "anyone there?", clock, "web"))
        await service.receive(message("waiting-too", "hello?", clock, "web"))
        clock.advance(20)
        calm = (await service.health())["inbox"]
        clock.advance(25)
        late = (await service.health())["inbox"]
        metrics = (await render_metrics(service.inbox, service.sessions)).decode()
    finally:
        await service.engine.dispose()

    assert calm["state"] == "real"
    assert late["state"] == "degraded"
    assert "2 waiting from 2 senders; oldest 45.0 s" in late["detail"]
    assert "coachline_inbox_lag_seconds 45.0" in metrics
    assert "coachline_inbox_waiting_messages 2.0" in metrics


async def test_metrics_count_the_outbox_and_set_aside_messages(
    make_service: Callable[..., Coachline], clock: FakeClock
) -> None:
    service = make_service(clock=clock, sender_rate=1, sender_burst=1)
    try:
        await service.receive(message("quick", "one", clock, "web"))
        await service.receive(message("quick", "two", clock, "web"))
        metrics = (await render_metrics(service.inbox, service.sessions)).decode()
    finally:
        await service.engine.dispose()

    assert "coachline_inbox_throttled_messages_total 1.0" in metrics
    assert 'coachline_outbox_messages{channel="web",status="pending"} 1.0' in metrics  # the notice


async def test_a_channel_whose_capabilities_say_operator_is_never_paced(
    make_service: Callable[..., Coachline], clock: FakeClock
) -> None:
    desk = RecordingChannel("desk")  # a made-up local channel: the core knows it only by its capabilities
    desk.capabilities = Capabilities(speaks_first=False, operator=True)
    service = make_service(
        clock=clock, sender_rate=1, sender_burst=1, channels={"desk": desk, "web": RecordingChannel("web")}
    )
    try:
        at_the_desk = [await service.receive(message("op", f"q{n}", clock, "desk")) for n in range(3)]
        on_the_web = [await service.receive(message("op", f"q{n}", clock, "web")) for n in range(2)]
    finally:
        await service.engine.dispose()

    assert [accepted.throttled for accepted in at_the_desk] == [False, False, False]
    assert [accepted.throttled for accepted in on_the_web] == [False, True]


@pytest.fixture
async def paced_api(
    make_service: Callable[..., Coachline], generator: ScriptedGenerator
) -> AsyncIterator[httpx.AsyncClient]:
    service = make_service(generator=generator, sender_rate=2, sender_burst=2)
    async with serve_asgi(create_app(service)) as url, httpx.AsyncClient(base_url=url, timeout=15) as client:
        yield client


async def test_the_web_page_answers_429_with_slow_down_over_the_rate(paced_api: httpx.AsyncClient) -> None:
    answers = [await paced_api.post("/web/messages", json={"text": f"q{n}"}) for n in range(3)]
    async with httpx.AsyncClient(base_url=str(paced_api.base_url), timeout=15) as another_browser:
        someone_else = await another_browser.post("/web/messages", json={"text": "hi"})
    metrics = await paced_api.get("/metrics")

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[2].json()["detail"] == SLOW_DOWN
    assert answers[2].headers["retry-after"] == "30"
    assert someone_else.status_code == 200
    assert metrics.status_code == 200
    assert "coachline_inbox_lag_seconds" in metrics.text


async def test_chat_api_callers_holding_a_key_are_not_held_to_the_sender_rate(
    paced_api: httpx.AsyncClient,
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    answers = [
        await paced_api.post("/api/v1/chat", json={"user_id": "fast", "text": f"q{n}"}, headers=headers)
        for n in range(4)
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 200]
