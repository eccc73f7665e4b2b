"""Fan-out: one message to 10,000 people over the messaging channels, through the real adapters.

The fake platform servers of the tests stand in for Telegram, Slack and Twilio, with every rate limit
scaled up ×100 so the run takes seconds: Telegram 3,000 messages/s overall, Slack 100/s per channel,
SMS 100 segments/s. The service runs in a child process (SQLite, the offline generator, 32 sends
in flight); the parent counts what each fake received: the sustained rate beside the allowed one,
the busiest second, duplicates and losses. The second run kills the child with SIGKILL a third of
the way through and starts it again: sends in flight at the kill may go twice (at most 32), none is lost.

    python -m bench.fanout            # the table; --quick for 1,500 people
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.stats import Row

ROOT = Path(__file__).resolve().parents[1]
SCALE = 100
TEXT = "Our next live session is on Friday at 18:00. See you there!"


@dataclass
class Platform:
    """One fake platform: its settings for the child, how to read what it received, its allowed rate."""

    channel: str
    env: dict[str, str]
    received: Callable[[], list[tuple[str, float]]]  # (recipient, arrival time) per message
    allowed: float | None  # messages per second overall; None when only per-conversation limits apply
    recipient: Callable[[int], str]


@asynccontextmanager
async def platforms() -> AsyncIterator[list[Platform]]:
    """Start every fake platform that exists in this checkout."""
    from tests.fakes.telegram_server import run_fake_telegram
    from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, run_fake_twilio

    async with AsyncExitStack() as stack:
        found: list[Platform] = []
        telegram = await stack.enter_async_context(run_fake_telegram())
        found.append(
            Platform(
                "telegram",
                {
                    "TELEGRAM_BOT_TOKEN": telegram.token,
                    "TELEGRAM_API_URL": telegram.url,
                    "TELEGRAM_CHAT_RATE": str(1.0 * SCALE),
                    "TELEGRAM_GLOBAL_RATE": str(30.0 * SCALE),
                },
                lambda: [
                    (str(call.params["chat_id"]), call.at)
                    for call in telegram.calls
                    if call.method == "sendMessage"
                ],
                30.0 * SCALE,
                lambda index: str(10_000_000 + index),
            )
        )
        twilio = await stack.enter_async_context(run_fake_twilio())
        found.append(
            Platform(
                "sms",
                {
                    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                    "TWILIO_FROM_NUMBER": FROM_NUMBER,
                    "TWILIO_API_URL": twilio.url,
                    "SMS_SEGMENTS_PER_SECOND": str(1.0 * SCALE),
                },
                lambda: [(message.to, message.at) for message in twilio.messages],
                1.0 * SCALE,
                lambda index: f"+1555{index:07d}",
            )
        )
        slack = await _slack(stack)
        if slack is not None:
            found.append(slack)
        yield found


async def _slack(stack: AsyncExitStack) -> Platform | None:
    try:
        from tests.fakes.slack_server import run_fake_slack
    except ImportError:  # a checkout without the Slack channel
        return None
    fake = await stack.enter_async_context(run_fake_slack())
    return Platform(
        "slack",
        {
            "SLACK_BOT_TOKEN": fake.bot_token,
            "SLACK_SIGNING_SECRET": "bench-signing-secret",
            "SLACK_API_URL": fake.api_url,
            "SLACK_CHANNEL_RATE": str(1.0 * SCALE),
        },
        lambda: [(str(post["channel"]), at) for post, at in zip(fake.posts, fake.post_times, strict=True)],
        None,
        lambda index: f"D{index:08d}",
    )


def _child_env(data_dir: Path, found: list[Platform]) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("COACH_", "TELEGRAM_", "SLACK_", "TWILIO_", "SMS_"))
    }
    env.update({"COACH_DATA_DIR": str(data_dir), "COACH_LLM": "offline", "COACH_CLAIM_LEASE_SECONDS": "2"})
    for platform in found:
        env.update(platform.env)
    return env


def _sent_so_far(found: list[Platform]) -> int:
    return sum(len(platform.received()) for platform in found)


async def _run(people: int, kill: bool) -> list[Row]:
    async with platforms() as found:
        with tempfile.TemporaryDirectory() as data_dir:
            env = _child_env(Path(data_dir), found)
            recipients = {
                platform.channel: [platform.recipient(index) for index in range(people // len(found))]
                for platform in found
            }
            listing = Path(data_dir) / "recipients.txt"
            listing.write_text(
                "\n".join(f"{channel} {who}" for channel, people_ in recipients.items() for who in people_)
            )
            command = [sys.executable, "-m", "bench.fanout", "--child", data_dir, str(listing)]
            total = sum(len(people_) for people_ in recipients.values())
            started = time.monotonic()
            child = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            killed_at = None
            while child.poll() is None:
                if kill and killed_at is None and _sent_so_far(found) >= total // 3:
                    child.send_signal(signal.SIGKILL)
                    child.wait()
                    killed_at = _sent_so_far(found)
                    child = subprocess.Popen(
                        [*command[:-1], "-"],
                        cwd=ROOT,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - started
            if child.returncode != 0:
                raise RuntimeError(f"the fan-out process failed ({child.returncode})")
            return _rows(found, recipients, elapsed, kill, killed_at, _failed(Path(data_dir)))


def _failed(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "coachline.db") as connection:
        return int(connection.execute("SELECT count(*) FROM outbox WHERE status = 'failed'").fetchone()[0])


def _rows(
    found: list[Platform],
    recipients: dict[str, list[str]],
    elapsed: float,
    kill: bool,
    killed_at: int | None,
    failed: int,
) -> list[Row]:
    name = f"fan-out to {sum(map(len, recipients.values())):,} people{' with kill -9' if kill else ''}"
    rows = [
        Row(name, "wall time", f"{elapsed:.1f} s", f"killed after {killed_at:,} sends" if killed_at else "")
    ]
    for platform in found:
        received = platform.received()
        counts = Counter(who for who, _ in received)
        expected = set(recipients[platform.channel])
        duplicates = sum(count - 1 for count in counts.values())
        lost = len(expected - set(counts))
        times = sorted(at for _, at in received)
        rate, peak = _sustained_rate(times), _peak_second(times)
        allowed = (
            f"{rate / platform.allowed:.0%} of the allowed {platform.allowed:,.0f}/s; busiest second {peak}"
            if platform.allowed
            else f"no overall limit (100/s per conversation); busiest second {peak}"
        )
        rows.append(Row(name, f"{platform.channel}: sustained rate", f"{rate:,.0f} msg/s", allowed))
        rows.append(
            Row(
                name,
                f"{platform.channel}: duplicates / losses",
                f"{duplicates} / {lost}",
                f"{len(expected):,} people",
            )
        )
    rows.append(Row(name, "outbox rows failed", str(failed)))
    return rows


def _sustained_rate(times: list[float]) -> float:
    """Messages per second after the first second (which a rate limiter may fill with a burst)."""
    if len(times) < 2:
        return 0.0
    later = [at for at in times if at >= times[0] + 1.0]
    if len(later) < 2:
        return (len(times) - 1) / max(times[-1] - times[0], 1e-9)
    return (len(later) - 1) / max(later[-1] - later[0], 1e-9)


def _peak_second(times: list[float]) -> int:
    """The most messages that arrived within any one second."""
    peak, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


async def run(quick: bool) -> list[Row]:
    """The fan-out, then the same with a kill -9 in the middle."""
    people = 1_500 if quick else 10_000
    return await _run(people, kill=False) + await _run(people, kill=True)


# --------------------------------------------------------------------------------------------------
# The child: the service itself


async def child(data_dir: Path, listing: Path | None) -> None:
    """Broadcast to the people in `listing` (made first), or resume (`-`); exit when all is sent."""
    from sqlalchemy import select

    from bot.foundation.tables import ChannelAccount, User
    from bot.runtime import Coachline
    from channels.registry import build_channels
    from coaching.embeddings import HashingEmbedder
    from coaching.fake_generator import ScriptedGenerator
    from coaching.vector_store import InMemoryVectorStore
    from config import load_settings
    from programs.broadcasts import Audience
    from programs.models import Broadcast

    settings = load_settings()
    settings = settings.model_copy(update={"worker_concurrency": 32})
    service = Coachline(
        settings,
        channels=build_channels(settings),
        generator=ScriptedGenerator(),
        embedder=HashingEmbedder(),
        vector_store=InMemoryVectorStore(),
        poll_seconds=0.05,
    )
    await service.start()
    try:
        assert service.default_creator is not None
        if listing is not None:
            now = service.now()
            people = [line.split(" ", 1) for line in listing.read_text().splitlines() if line]
            async with service.sessions.begin() as session:
                users = [User(creator_id=service.default_creator.id, created_at=now) for _ in people]
                session.add_all(users)
                await session.flush()
                session.add_all(
                    ChannelAccount(user_id=user.id, channel=channel, external_id=who, created_at=now)
                    for user, (channel, who) in zip(users, people, strict=True)
                )
            await service.broadcasts.create(
                service.default_creator.id, TEXT, Audience(), service.messaging_channels()
            )
        async with service.sessions() as session:
            broadcast_id = await session.scalar(select(Broadcast.id))
        assert broadcast_id is not None
        while (report := await service.broadcasts.report(broadcast_id)) is not None and report[
            "status"
        ] != "done":
            await asyncio.sleep(0.1)
    finally:
        await service.stop()


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.fanout`: the table; `--child DIR LISTING|-` is the service process."""
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("DATA_DIR", "LISTING"))
    options = parser.parse_args(argv)
    if options.child:
        data_dir, listing = options.child
        asyncio.run(child(Path(data_dir), None if listing == "-" else Path(listing)))
        return
    for row in asyncio.run(run(options.quick)):
        print(f"{row.benchmark:<40} {row.measure:<34} {row.value:>14}  {row.note}")


if __name__ == "__main__":
    main()
