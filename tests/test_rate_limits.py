"""Send pacing: overall and per-chat rates, bursts, multi-unit sends, fair queueing."""

from __future__ import annotations

from bot.rate_limits import RateLimiter
from channels.base import ChannelLimits


class ManualTime:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


TELEGRAM = ChannelLimits(per_chat_rate=1.0, overall_rate=30.0)


def test_one_second_of_overall_burst_goes_at_once_then_sends_are_paced() -> None:
    time = ManualTime()
    limiter = RateLimiter(time)
    time.now += 1  # running for a second: the burst is ours

    waits = [limiter.reserve("telegram", f"chat-{n}", TELEGRAM) for n in range(60)]

    assert waits[:30] == [0.0] * 30
    assert waits[30] > 0
    assert abs(waits[59] - 1.0) < 1e-9  # the 60th send of a 30/s channel goes one second later


def test_a_limiter_just_started_grants_no_burst_the_last_process_may_have_spent_it() -> None:
    time = ManualTime()
    limiter = RateLimiter(time)  # e.g. the instance was killed and restarted mid-broadcast

    waits = [limiter.reserve("telegram", f"chat-{n}", TELEGRAM) for n in range(30)]

    assert waits[0] == 0.0  # the first send is not held back
    assert abs(waits[29] - 29 / 30) < 1e-9  # the rest are paced from the start: no second burst


def test_a_chat_gets_one_message_a_second() -> None:
    time = ManualTime()
    limiter = RateLimiter(time)

    waits = [limiter.reserve("telegram", "chat-1", TELEGRAM) for _ in range(3)]

    assert waits == [0.0, 1.0, 2.0]


def test_a_chat_that_was_quiet_gets_its_burst_back() -> None:
    time = ManualTime()
    limiter = RateLimiter(time)
    limiter.reserve("telegram", "chat-1", TELEGRAM)
    limiter.reserve("telegram", "chat-1", TELEGRAM)

    time.now += 5

    assert limiter.reserve("telegram", "chat-1", TELEGRAM) == 0.0


def test_a_multi_segment_send_goes_first_and_the_next_waits_for_it() -> None:
    time = ManualTime()
    limiter = RateLimiter(time)
    sms = ChannelLimits(overall_rate=1.0)

    first = limiter.reserve("sms", "+1555", sms, cost=3)
    second = limiter.reserve("sms", "+1666", sms, cost=1)

    assert first == 0.0
    assert second == 3.0


def test_unlimited_channels_never_wait() -> None:
    limiter = RateLimiter(ManualTime())

    assert all(limiter.reserve("web", "x", ChannelLimits()) == 0.0 for _ in range(1000))
