"""A Coachline process for the fan-out crash test: `python -m tests.support.fanout_worker DATA_DIR SENDS N [HOLD]`.

With N > 0 it makes N people on a file-backed channel and broadcasts to them; with N = 0 it only
starts (which resumes an interrupted fan-out) and sends what is left. It exits once nothing of the
broadcast is still queued. Every send appends the recipient's id to the SENDS file, so the test can
count losses and duplicates after a `kill -9`. With HOLD, every send after the first HOLD hangs (the
platform stops answering), so the test can kill the process mid-fan-out however fast the machine is.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlalchemy import select

from bot.composition import build_service
from bot.foundation.messages import OutgoingMessage
from bot.foundation.tables import ChannelAccount, User
from channels.base import Channel, ChannelLimits, ChannelStatus, MessageSink, SendResult
from coaching.embeddings import HashingEmbedder
from coaching.fake_generator import ScriptedGenerator
from coaching.vector_store import InMemoryVectorStore
from config import LLMMode, Settings
from programs.broadcasts import Audience
from programs.models import Broadcast


class FileChannel(Channel):
    """Appends each recipient to a file, a few milliseconds a send, like a platform call."""

    name = "sms"
    limits = ChannelLimits(overall_rate=400.0)

    def __init__(self, path: Path, hold_after: int | None = None) -> None:
        self._path = path
        self._hold_after = hold_after
        self._started = 0

    async def start(self, sink: MessageSink) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Record the send (or hang, once `hold_after` sends were started)."""
        self._started += 1
        if self._hold_after is not None and self._started > self._hold_after:
            await asyncio.Event().wait()  # until the test's kill -9
        await asyncio.sleep(0.002)
        with self._path.open("a") as sends:
            sends.write(message.conversation.chat_id + "\n")
        return SendResult(platform_message_id=message.conversation.chat_id)

    def status(self) -> ChannelStatus:
        """Always fine."""
        return ChannelStatus("real", "file channel")


async def main(data_dir: Path, sends: Path, people: int, hold_after: int | None = None) -> None:
    """Broadcast to `people` new people (or resume), then wait until everything is sent."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        api_key="fanout",
        llm=LLMMode.OFFLINE,
        claim_lease_seconds=1.0,
    )
    service = build_service(
        settings,
        channels={"sms": FileChannel(sends, hold_after)},
        generator=ScriptedGenerator(),
        embedder=HashingEmbedder(),
        vector_store=InMemoryVectorStore(),
        poll_seconds=0.05,
    )
    await service.start()
    try:
        assert service.default_creator is not None
        if people:
            now = service.now()
            async with service.sessions.begin() as session:
                users = [User(creator_id=service.default_creator.id, created_at=now) for _ in range(people)]
                session.add_all(users)
                await session.flush()
                session.add_all(
                    ChannelAccount(
                        user_id=user.id, channel="sms", external_id=f"+1555{index:07d}", created_at=now
                    )
                    for index, user in enumerate(users)
                )
            await service.broadcasts.create(
                service.default_creator.id, "Hello everyone!", Audience(), ["sms"]
            )
        async with service.sessions() as session:
            broadcast_id = await session.scalar(select(Broadcast.id))
        assert broadcast_id is not None
        while True:
            report = await service.broadcasts.report(broadcast_id)
            assert report is not None
            if report["status"] == "done":
                print(f"done: {report['sent']} sent", flush=True)
                return
            await asyncio.sleep(0.2)
    finally:
        await service.stop()


if __name__ == "__main__":
    hold = int(sys.argv[4]) if len(sys.argv) > 4 else None
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), hold))
