"""Scheduled delivery: the persistent program job, scheduler leadership, broadcasts with their reports,
and a kill -9 in the middle of a fan-out."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.foundation.clock import FakeClock
from bot.foundation.tables import ChannelAccount, OutboxMessage, User
from bot.runtime import Coachline
from coaching.fake_generator import ScriptedGenerator
from programs.broadcasts import Audience
from programs.models import Broadcast, UserTag
from programs.scheduler import run_program_steps
from tests.conftest import ADMIN_KEY
from tests.support.asgi_server import serve_asgi
from tests.support.channels import RecordingChannel
from tests.support.people import known_person
from tests.support.waiting import PROCESS_HANG_SECONDS, PROCESS_TEST_TIMEOUT, until, until_progress

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = ("telegram", "slack", "sms")


@pytest.fixture
def channels() -> dict[str, RecordingChannel]:
    """Three recording platforms."""
    return {name: RecordingChannel(name) for name in CHANNELS}


@pytest.fixture
async def service(
    make_service: Callable[..., Coachline],
    database_url: str,
    clock: FakeClock,
    channels: dict[str, RecordingChannel],
) -> AsyncIterator[Coachline]:
    """A service sending to the three recording platforms, on a clock the test moves."""
    instance = make_service(
        database_url=database_url, clock=clock, channels=dict(channels), generator=ScriptedGenerator()
    )
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


async def _people(service: Coachline, per_channel: int, tag_every: int = 0) -> list[ChannelAccount]:
    assert service.default_creator is not None
    now = service.now()
    accounts = []
    async with service.sessions.begin() as session:
        for channel in CHANNELS:
            for index in range(per_channel):
                user = User(creator_id=service.default_creator.id, created_at=now)
                session.add(user)
                await session.flush()
                account = ChannelAccount(
                    user_id=user.id, channel=channel, external_id=f"{channel}-{index}", created_at=now
                )
                session.add(account)
                accounts.append(account)
                if tag_every and index % tag_every == 0:
                    session.add(UserTag(user_id=user.id, tag="vip", created_at=now))
    return accounts


async def _settle(service: Coachline, broadcast_id: str) -> dict[str, Any]:
    reports: list[dict[str, Any]] = []

    async def done() -> bool:
        report = await service.broadcasts.report(broadcast_id)
        assert report is not None
        reports.append(report)
        return bool(report["status"] == "done")

    await until_progress(service, done, f"broadcast {broadcast_id} to finish")
    return reports[-1]


async def test_a_broadcast_reaches_every_channel_and_reports_opt_outs_and_blocks(
    service: Coachline, channels: dict[str, RecordingChannel]
) -> None:
    accounts = await _people(service, per_channel=4)
    async with service.sessions.begin() as session:
        opted = await session.get_one(ChannelAccount, accounts[-1].id)  # an SMS number that sent STOP
        opted.opted_out_at = service.now()
        blocked = await session.get_one(ChannelAccount, accounts[0].id)  # a Telegram user who blocked us
        blocked.reachable = False
    async with (
        serve_asgi(create_app(service), lifespan="off") as url,
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api,
    ):
        created = await api.post("/api/v1/creators/broadcasts", json={"text": "New workshop on Friday!"})
        report = await _settle(service, created.json()["broadcast_id"])
        listed = (await api.get("/api/v1/creators/broadcasts")).json()["broadcasts"]
        empty = await api.post("/api/v1/creators/broadcasts", json={"text": "   "})

    assert created.status_code == 202
    assert report["recipients"] == 12
    assert (report["sent"], report["opted_out"], report["blocked"], report["failed"]) == (10, 1, 1, 0)
    assert report["by_channel"]["telegram"] == {"sent": 3, "blocked": 1}
    assert [len(channels[name].sent) for name in CHANNELS] == [3, 4, 3]
    assert listed[0]["broadcast_id"] == report["broadcast_id"]
    assert empty.status_code == 422


async def test_a_broadcast_to_a_tag_reaches_only_that_tag(service: Coachline) -> None:
    await _people(service, per_channel=6, tag_every=3)
    assert service.default_creator is not None

    broadcast = await service.broadcasts.create(
        service.default_creator.id, "VIPs only", Audience("tag", "vip"), service.messaging_channels()
    )
    report = await _settle(service, broadcast.id)

    assert report["recipients"] == report["sent"] == 6  # indexes 0 and 3 on each channel


async def test_an_interrupted_fan_out_resumes_without_duplicates(service: Coachline) -> None:
    await _people(service, per_channel=5)
    assert service.default_creator is not None
    broadcast = await service.broadcasts.create(service.default_creator.id, "Hi", Audience(), list(CHANNELS))
    async with service.sessions.begin() as session:
        # As if the process died halfway: some rows missing, the broadcast still fanning out.
        rows = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("broadcast:%")))
        )
        for row in rows[::2]:
            await session.delete(row)
        (await session.get_one(Broadcast, broadcast.id)).status = "fanning_out"

    resumed = await service.broadcasts.resume_unfinished()
    report = await _settle(service, broadcast.id)

    assert resumed == 1
    assert report["recipients"] == 15 and report["sent"] == 15
    async with service.sessions() as session:
        keys = list(
            await session.scalars(
                select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.like("broadcast:%"))
            )
        )
    assert len(keys) == len(set(keys)) == 15


async def test_the_stored_program_job_delivers_due_steps_on_the_injected_clock(
    service: Coachline, clock: FakeClock, channels: dict[str, RecordingChannel]
) -> None:
    assert service.default_creator is not None
    async with (
        serve_asgi(create_app(service), lifespan="off") as url,
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api,
    ):
        program = (
            await api.post(
                "/api/v1/creators/programs",
                json={
                    "title": "Two steps",
                    "steps": [
                        {
                            "step_name": "hello",
                            "step_type": "MESSAGE",
                            "action_config": {"message_template": "Hello"},
                        },
                        {
                            "step_name": "later",
                            "step_type": "MESSAGE",
                            "trigger_config": {"trigger_type": "TIME_BASED", "delay_seconds": 3600},
                            "action_config": {"message_template": "An hour later"},
                        },
                    ],
                },
            )
        ).json()
        await known_person(service, "sms", "+15550001")
        enrolled = await api.post(
            f"/api/v1/creators/programs/{program['id']}/enrollments",
            json={"channel": "sms", "user_id": "+15550001"},
        )
        assert enrolled.status_code == 201, enrolled.text

    await run_program_steps(service.program_schedule.key)  # nothing due yet
    clock.advance(3601)
    await run_program_steps(service.program_schedule.key)
    await until(lambda: len(channels["sms"].sent) == 2, "both steps to go out")

    assert [message.text for message in channels["sms"].sent] == ["Hello", "An hour later"]
    assert service.program_schedule.leading
    health = await service.health()
    assert "program scheduler leader" in health["scheduler"]["detail"]


async def test_the_program_job_is_kept_in_a_persistent_job_store(service: Coachline) -> None:
    store = service.program_schedule.job_store
    if store.startswith("sqlite:///"):
        with sqlite3.connect(store.removeprefix("sqlite:///")) as connection:
            jobs = connection.execute("SELECT id FROM apscheduler_jobs").fetchall()
    else:
        import psycopg

        with psycopg.connect(store.replace("postgresql+psycopg://", "postgresql://")) as connection:
            jobs = connection.execute("SELECT id FROM apscheduler_jobs").fetchall()
    assert jobs == [("program-steps",)]


async def test_only_one_instance_leads_and_another_takes_over(
    make_service: Callable[..., Coachline], database_url: str
) -> None:
    first = make_service(database_url=database_url, channels={}, generator=ScriptedGenerator())
    second = make_service(database_url=database_url, channels={}, generator=ScriptedGenerator())
    await first.start()
    await second.start()
    try:
        assert first.program_schedule.leading and not second.program_schedule.leading
        await first.stop()
        await second.program_schedule._try_lead()  # what its background check does every 15 s
        assert second.program_schedule.leading
    finally:
        await second.stop()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.slow  # two real processes and a kill -9
@pytest.mark.timeout(PROCESS_TEST_TIMEOUT)
def test_kill_9_in_the_middle_of_a_fan_out_loses_nothing_and_duplicates_at_most_the_sends_in_flight(
    tmp_path: Path,
) -> None:
    people, held_after = 600, 200
    sends = tmp_path / "sends.txt"
    log = tmp_path / "worker.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("COACH_")}
    command = [sys.executable, "-m", "tests.support.fanout_worker", str(tmp_path / "data"), str(sends)]

    with log.open("wb") as output:
        first = subprocess.Popen(
            [*command, str(people), str(held_after)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        # Its platform hangs after `held_after` sends: once they are written, the kill is mid-fan-out.
        deadline = time.monotonic() + PROCESS_HANG_SECONDS
        while not (sends.exists() and len(sends.read_text().splitlines()) >= held_after):
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"hung before {held_after} sends:\n{log.read_text()}"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(10)
    sent_before = len(sends.read_text().splitlines())
    assert sent_before == held_after  # killed mid-fan-out: the held sends never reached the platform

    second = subprocess.run(
        [*command, "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=PROCESS_HANG_SECONDS,
        check=False,
    )

    assert second.returncode == 0, second.stdout + second.stderr
    counts = Counter(sends.read_text().splitlines())
    assert len(counts) == people  # nobody lost
    duplicates = sum(count - 1 for count in counts.values())
    assert duplicates <= 8  # at most the sends in flight (COACH_WORKER_CONCURRENCY) at the kill


async def test_two_instances_advancing_the_same_enrolment_queue_each_step_once(
    make_service: Callable[..., Coachline], database_url: str, clock: FakeClock
) -> None:
    first, second = (
        make_service(
            database_url=database_url,
            clock=clock,
            channels={"sms": RecordingChannel("sms")},
            generator=ScriptedGenerator(),
        )
        for _ in range(2)
    )
    await first.start()
    await second.start()
    try:
        async with (
            serve_asgi(create_app(first), lifespan="off") as url,
            httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api,
        ):
            steps = [
                {
                    "step_name": f"day{day}",
                    "step_type": "MESSAGE",
                    "trigger_config": {"trigger_type": "TIME_BASED", "delay_seconds": 86400},
                    "action_config": {"message_template": f"Day {day}"},
                }
                for day in range(1, 4)
            ]
            program = (
                await api.post("/api/v1/creators/programs", json={"title": "Daily", "steps": steps})
            ).json()
            for index in range(5):
                await known_person(first, "sms", f"+1555000{index:04d}")
                await api.post(
                    f"/api/v1/creators/programs/{program['id']}/enrollments",
                    json={"channel": "sms", "user_id": f"+1555000{index:04d}"},
                )
        for _ in range(3):
            clock.advance(86400)
            # Both instances wake at once, as two schedulers would without the leader lock.
            await asyncio.gather(first.programs.run_due(), second.programs.run_due())
        async with first.sessions() as session:
            keys = list(
                await session.scalars(
                    select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.like("program:%"))
                )
            )
    finally:
        await first.stop()
        await second.stop()

    assert len(keys) == len(set(keys)) == 15  # 5 people × 3 days, each once
