"""The real third-party fixtures in `../shared/fixtures/`, which a clone of the project does not have.

Tests that read them call `shared_fixture(...)` inside the test (never at import time), so that
without the folder they are skipped with the reason instead of failing the collection. Every feature
those tests cover is also covered by fixtures the project writes itself (`tests/support/payloads.py`,
`tests/support/documents.py`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# `COACHLINE_SHARED_FIXTURES` points elsewhere (a git worktree, say, whose parent has no `shared/`).
SHARED_FIXTURES = Path(
    os.environ.get("COACHLINE_SHARED_FIXTURES")
    or Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
)
SKIP_REASON = "needs ../shared/fixtures, which a clone of the project does not have"


def shared_fixtures_present() -> bool:
    """Whether `../shared/fixtures` is beside the project (the development machines have it)."""
    return SHARED_FIXTURES.is_dir()


def shared_fixture(*parts: str) -> Path:
    """The path of one shared fixture; skips the calling test when it is not there."""
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{SKIP_REASON} ({'/'.join(parts)})")
    return path


def shared_fixture_or_exit(*parts: str) -> Path:
    """For benchmarks (no pytest to skip): the path, or exit with the reason when it is not there."""
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        raise SystemExit(f"this benchmark {SKIP_REASON}: {path} (set COACHLINE_SHARED_FIXTURES)")
    return path
