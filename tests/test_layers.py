"""Imports point one way: the import-linter contracts in pyproject.toml hold (docs/architecture.md, Layers).

The linter runs in its own process (it edits `sys.path` and logging when it runs) and its report is the
failure message, naming each import that crosses a layer the wrong way and the line it is on.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"


def test_every_import_contract_is_kept() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LINT], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    report = result.stdout + result.stderr
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]

    assert result.returncode == 0, report
    # Not vacuously: every contract was checked over the whole project.
    kept = re.search(r"Contracts: (\d+) kept, 0 broken", report)
    assert kept is not None and int(kept[1]) == len(contracts["contracts"]) >= 4, report
    analysed = re.search(r"Analyzed (\d+) files", report)
    assert analysed is not None and int(analysed[1]) > 150, report
