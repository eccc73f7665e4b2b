"""The command line: `run.py chat` answers in the terminal, `creators add` prints the secrets once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.documents import text_pdf
from tests.support.waiting import PROCESS_HANG_SECONDS, PROCESS_TEST_TIMEOUT

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(PROCESS_TEST_TIMEOUT)


def run_cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run `python run.py ARGS` offline with its own data dir."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("COACH_")}
    env.update(
        {
            "COACH_DATA_DIR": str(tmp_path / "data"),
            "COACH_LLM": "offline",
            # An embedding server that is not there: search is degraded, and no model is downloaded.
            "COACH_EMBEDDINGS": "ollama:nomic-embed-text",
            "COACH_OLLAMA_URL": "http://127.0.0.1:9",
            "COLUMNS": "200",
        }
    )
    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=PROCESS_HANG_SECONDS,
        check=False,
    )


def test_chat_in_the_terminal_answers_each_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "chat", "--user", "tess", stdin="/start\nhello\n/reset\n")

    assert result.returncode == 0, result.stderr
    replies = result.stdout.split("twin>")[1:]
    assert len(replies) == 3
    assert "AI twin of Coach" in replies[0]
    assert "Coach" in replies[1]
    assert "forgotten" in replies[2]
    assert "offline" in result.stdout  # says which generator answers


async def _chat_with_a_failing_model(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """`run.py chat ARGS` against an Ollama whose model fails: the fallback logs a WARNING."""
    from tests.fakes.ollama_server import run_fake_ollama

    async with run_fake_ollama(models=("llama3.1:8b", "nomic-embed-text"), error_after_tokens=0) as ollama:
        env = {key: value for key, value in os.environ.items() if not key.startswith("COACH_")}
        env.update(
            {
                "COACH_DATA_DIR": str(tmp_path / "data"),
                "COACH_LLM": "auto",
                "COACH_OLLAMA_URL": ollama.url,
                "COACH_EMBEDDINGS": "ollama:nomic-embed-text",
            }
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "run.py",
            "chat",
            "--user",
            "tess",
            *args,
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(
            process.communicate(b"/start\nhow do I sleep better?\n"), PROCESS_HANG_SECONDS
        )
    assert any(request.path == "/api/chat" for request in ollama.requests)
    return process.returncode or 0, out.decode(), err.decode()


async def test_chat_names_the_creator_it_was_asked_for_and_keeps_logs_out(tmp_path: Path) -> None:
    added = run_cli(tmp_path, "creators", "add", "Dana Fit")
    creator_id = added.stdout.split("creator_id:", 1)[1].split()[0]

    code, out, err = await _chat_with_a_failing_model(tmp_path, "--creator", creator_id)

    assert code == 0, err
    assert "Talking with Dana Fit's twin" in out
    assert "AI twin of Dana Fit" in out.split("twin>")[1]
    assert "WARNING" not in out and "WARNING" not in err  # the conversation stays a conversation
    log = (tmp_path / "data" / "chat.log").read_text()
    assert "WARNING coaching.llm: ollama unavailable, answering from offline" in log


async def test_chat_with_verbose_shows_warnings_on_stderr_only(tmp_path: Path) -> None:
    code, out, err = await _chat_with_a_failing_model(tmp_path, "--verbose")

    assert code == 0, err
    assert "WARNING coaching.llm: ollama unavailable" in err and "INFO" not in err
    assert "WARNING" not in out


def test_chat_with_an_unknown_creator_says_so(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "chat", "--creator", "nobody-1234", stdin="hello\n")

    assert result.returncode == 2
    assert "No creator 'nobody-1234'" in result.stdout and "creators list" in result.stdout


def test_creators_add_then_list(tmp_path: Path) -> None:
    added = run_cli(tmp_path, "creators", "add", "Dana Fit")
    listed = run_cli(tmp_path, "creators", "list")

    assert added.returncode == 0, added.stderr
    assert "api_key:    cr_" in added.stdout and "claim_code:" in added.stdout
    assert "Dana Fit" in listed.stdout


def test_a_bad_setting_stops_the_start_with_a_message(tmp_path: Path) -> None:
    env_file = tmp_path / "data"
    env_file.mkdir()
    result = subprocess.run(
        [sys.executable, "run.py", "serve"],
        cwd=ROOT,
        env={**os.environ, "COACH_DATA_DIR": str(env_file), "COACH_PORT": "http"},
        capture_output=True,
        text=True,
        timeout=PROCESS_HANG_SECONDS,
        check=False,
    )

    assert result.returncode == 2
    assert "COACH_PORT" in result.stdout + result.stderr


def test_an_unreachable_database_stops_the_start_with_a_message(tmp_path: Path, unused_port: int) -> None:
    result = subprocess.run(
        [sys.executable, "run.py", "serve"],
        cwd=ROOT,
        env={
            **os.environ,
            "COACH_DATA_DIR": str(tmp_path / "data"),
            "COACH_DATABASE_URL": f"postgresql+asyncpg://coach:s3cret@127.0.0.1:{unused_port}/coach",
        },
        capture_output=True,
        text=True,
        timeout=PROCESS_HANG_SECONDS,
        check=False,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert "cannot use the database" in output and "COACH_DATABASE_URL" in output
    assert "s3cret" not in output
    assert "Traceback" not in output


async def test_ingest_indexes_files_and_folders_and_reports_bad_ones(tmp_path: Path) -> None:
    from tests.fakes.ollama_server import run_fake_ollama

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Sleep\n\nAdults need seven to nine hours of sleep every night.\n")
    (docs / "tool.exe").write_bytes(b"MZ\x90\x00")
    allen = tmp_path / "eating_guide.pdf"
    allen.write_bytes(text_pdf())
    async with run_fake_ollama(models=("nomic-embed-text",)) as ollama:
        env = {key: value for key, value in os.environ.items() if not key.startswith("COACH_")}
        env.update(
            {
                "COACH_DATA_DIR": str(tmp_path / "data"),
                "COACH_EMBEDDINGS": "ollama:nomic-embed-text",
                "COACH_OLLAMA_URL": ollama.url,
                "COLUMNS": "200",
            }
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "run.py",
            "ingest",
            str(docs),
            str(allen),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output = (await asyncio.wait_for(process.communicate(), PROCESS_HANG_SECONDS))[0].decode()

    assert process.returncode == 1, output  # one file was refused
    assert "guide.md: added" in output and "eating_guide.pdf: added" in output
    assert "tool.exe" in output and "not supported" in output
    assert "2 of 3 documents indexed" in output
    assert any(request.path == "/api/embed" for request in ollama.requests)


def test_programs_import_stores_the_sample_and_draws_it(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "programs", "import", "config/programs/21_day_habits.yaml")

    assert result.returncode == 0, result.stderr
    assert "program_id:" in result.stdout and "(11 steps, active)" in result.stdout
    assert "flowchart TD" in result.stdout and "-->|yes|" in result.stdout


def test_programs_import_refuses_a_broken_file_saying_why(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "title: Broken\nsteps:\n  - step_name: a\n    step_type: CONDITION\n"
        "    action_config: {condition: 'day >> 3'}\n"
    )

    result = run_cli(tmp_path, "programs", "import", str(broken))

    assert result.returncode == 1
    assert "action_config.condition" in result.stdout and "position" in result.stdout


def test_creators_get_a_new_claim_code_and_api_key(tmp_path: Path) -> None:
    added = run_cli(tmp_path, "creators", "add", "Dana Fit")
    creator_id = added.stdout.split("creator_id:", 1)[1].split()[0]
    old_code = added.stdout.split("claim_code:", 1)[1].split()[0]

    code = run_cli(tmp_path, "creators", "claim-code", creator_id)
    key = run_cli(tmp_path, "creators", "rotate-key", creator_id)
    missing = run_cli(tmp_path, "creators", "rotate-key", "nobody-1234")

    assert code.returncode == 0, code.stderr
    assert "claim_code:" in code.stdout and old_code not in code.stdout
    assert key.returncode == 0 and "api_key: cr_" in key.stdout
    assert missing.returncode == 2 and "No creator 'nobody-1234'" in missing.stdout
