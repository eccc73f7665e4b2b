"""A fresh clone passes: only the shared-fixture helper may name `../shared`, and it skips with a reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import shared_fixtures

ROOT = Path(__file__).resolve().parents[1]
HELPER = ROOT / "tests" / "support" / "shared_fixtures.py"
# A path built to the shared folder: "shared" as a path part, or a string that starts "../shared".
SHARED_PATH = re.compile(r"""["']shared["']|["'](\.\./)+shared""")


def test_only_the_helper_builds_a_path_to_the_shared_fixtures() -> None:
    offenders = []
    for folder in ("tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == HELPER or path == Path(__file__).resolve():
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                code = line.split("#", 1)[0]
                if SHARED_PATH.search(code):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")

    assert offenders == [], "use tests.support.shared_fixtures.shared_fixture(...) instead"


def test_a_missing_shared_fixture_skips_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shared_fixtures, "SHARED_FIXTURES", tmp_path / "nowhere")

    with pytest.raises(pytest.skip.Exception) as skipped:
        shared_fixtures.shared_fixture("docs", "book.txt")

    assert "needs ../shared/fixtures, which a clone of the project does not have" in str(skipped.value)
    assert "docs/book.txt" in str(skipped.value)
    assert not shared_fixtures.shared_fixtures_present()


def test_a_present_shared_fixture_is_its_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "book.txt").write_text("a book")
    monkeypatch.setattr(shared_fixtures, "SHARED_FIXTURES", tmp_path)

    assert shared_fixtures.shared_fixture("docs", "book.txt").read_text() == "a book"
