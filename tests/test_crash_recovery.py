"""kill -9 of a real `run.py serve` process with a message in hand: after the restart it is answered once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_KEY
from tests.fakes.ollama_server import run_fake_ollama
from tests.support.waiting import PROCESS_HANG_SECONDS, PROCESS_TEST_TIMEOUT, until

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def serve_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python run.py serve` in a subprocess; killed on exit if still alive."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "run.py", "serve"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


async def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll /health until the server answers (it is a process: no signal reaches this one)."""
    async with httpx.AsyncClient(timeout=PROCESS_HANG_SECONDS) as client:

        async def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"server exited early:\n{log.read_text()}")
            try:
                return (await client.get(f"{url}/health")).status_code == 200
            except httpx.TransportError:
                return False

        await until(healthy, f"the server to start:\n{log.read_text()}", hang_seconds=PROCESS_HANG_SECONDS)


def answer_status(database: Path, text: str) -> str | None:
    """The status of the inbox message with this text."""
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT status FROM inbox WHERE text = ?", (text,)).fetchone()
    return None if row is None else str(row[0])


def replies_for(database: Path, text: str) -> list[tuple[str, str]]:
    """(status, text) of the outbox rows answering the inbox message with this text."""
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT o.status, o.text FROM outbox o JOIN inbox i ON o.inbox_id = i.id WHERE i.text = ?",
            (text,),
        ).fetchall()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.slow  # two real processes and a kill -9
@pytest.mark.timeout(PROCESS_TEST_TIMEOUT)
async def test_a_message_in_hand_at_kill_9_is_answered_once_after_restart(
    tmp_path: Path, unused_port: int
) -> None:
    question = "Are you still there after a crash?"
    async with run_fake_ollama(
        delay_before_first_token=120, reply="Yes, still here.", models=("llama3.1:8b", "nomic-embed-text")
    ) as ollama:
        env = {
            **{key: value for key, value in os.environ.items() if not key.startswith("COACH_")},
            "COACH_DATA_DIR": str(tmp_path / "data"),
            "COACH_PORT": str(unused_port),
            "COACH_API_KEY": ADMIN_KEY,
            "COACH_LLM": "ollama",
            "COACH_OLLAMA_URL": ollama.url,
            "COACH_EMBEDDINGS": "ollama:nomic-embed-text",
            "COACH_LLM_FIRST_TOKEN_TIMEOUT": "300",
            "COACH_CLAIM_LEASE_SECONDS": "2",
        }
        url = f"http://127.0.0.1:{unused_port}"
        log = tmp_path / "serve.log"
        database = tmp_path / "data" / "coachline.db"

        with serve_process(env, log) as first:
            await wait_until_healthy(url, first, log)
            # The model is "thinking" for longer than the test: give up reading, not connecting.
            async with httpx.AsyncClient(timeout=httpx.Timeout(PROCESS_HANG_SECONDS, read=0.5)) as client:
                with pytest.raises(httpx.ReadTimeout):
                    await client.post(
                        f"{url}/api/v1/chat",
                        json={"user_id": "alice", "text": question},
                        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                    )
            await until(lambda: bool(ollama.chat_requests), "the message to reach the model")
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert replies_for(database, question) == []  # nothing was answered before the kill

        ollama.delay_before_first_token = 0
        with serve_process(env, log) as second:
            await wait_until_healthy(url, second, log)
            # The dead instance's 2 s lease runs out, then the message is answered.
            await until(
                lambda: [status for status, _ in replies_for(database, question)] == ["sent"],
                "the answer after the restart",
                hang_seconds=PROCESS_HANG_SECONDS,
            )
            second.send_signal(signal.SIGTERM)  # a graceful stop finishes whatever it has in hand
            second.wait(PROCESS_HANG_SECONDS)

        assert answer_status(database, question) == "done"  # claimable by no one: no second answer later
        assert replies_for(database, question) == [("sent", "Yes, still here.")]
        assert len(ollama.chat_requests) == 2  # asked once before the kill and once after
