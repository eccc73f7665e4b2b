"""Imports point one way: the import-linter contracts in pyproject.toml hold (docs/architecture.md, Layers).

The linter runs in its own process (it edits `sys.path` and logging when it runs) and its report is the
failure message, naming each import that crosses a layer the wrong way and the line it is on. It reads
packages only, so `run.py` (a module beside them) and the spelling of channel names are checked here
by reading the source.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from channels.registry import channel_names

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


# Where no channel may be spelled out: a channel's name lives in its own package (the core imports
# the constant, or asks the channel's capabilities); docs and tests may name channels freely.
OUTSIDE_CHANNELS = ("bot", "coaching", "programs", "config")
# The modules run.py's admin verbs (`creators`, `ingest`, `programs import`) still use below the face:
# each opens its own engine rather than a started service. This list may only shrink.
ADMIN_VERB_IMPORTS = frozenset(
    {
        "bot.file_modes",
        "bot.foundation.clock",
        "bot.foundation.db",
        "bot.foundation.tables",
        "bot.identity",
        "bot.startup_error",
        "coaching.bulk_ingest",
        "coaching.embeddings",
        "coaching.knowledge",
        "coaching.vector_store",
        "programs.diagram",
        "programs.importer",
        "programs.models",
        "programs.runner",
    }
)
PROJECT_PACKAGES = ("bot", "channels", "coaching", "programs", "config")


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string constants that are docstrings (of the module, a class or a function)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def spelled_channel_names(source: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, name) for each string constant in `source` equal to a channel name, docstrings aside."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in names
        and id(node) not in docstrings
    ]


def _code_outside_channels() -> list[Path]:
    files = [path for package in OUTSIDE_CHANNELS for path in sorted((ROOT / package).rglob("*.py"))]
    return [*files, ROOT / "run.py"]


def test_the_channel_name_check_finds_a_spelled_name_and_spares_docstrings() -> None:
    source = (
        '"""Talks to "web" users."""\n\ndef f(c):\n    """On web."""\n    return c == "web" or c in {"sms"}\n'
    )

    assert spelled_channel_names(source, {"web", "sms", "console"}) == [(5, "web"), (5, "sms")]


def test_no_code_outside_channels_spells_a_channel_name() -> None:
    names = set(channel_names())
    assert {"web", "console", "telegram", "slack", "sms", "whatsapp"} <= names  # not vacuously
    files = _code_outside_channels()
    assert len(files) > 100

    spelled = [
        f"{path.relative_to(ROOT)}:{line}: {name!r}"
        for path in files
        for line, name in spelled_channel_names(path.read_text(encoding="utf-8"), names)
    ]

    assert spelled == [], (
        "name the channel through its package (a constant, its capabilities):\n" + "\n".join(spelled)
    )


def _imported_modules(path: Path) -> set[str]:
    """Every module `path` imports (absolute names; `from a import b` counts as `a`)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_nothing_imports_the_entry_point() -> None:
    folders = [*PROJECT_PACKAGES, "tests", "bench"]
    files = [path for folder in folders for path in (ROOT / folder).rglob("*.py")]
    assert len(files) > 200

    importers = [str(path.relative_to(ROOT)) for path in files if "run" in _imported_modules(path)]

    assert importers == []


def _face_modules() -> set[str]:
    """The face of bot/, as the "bot" import contract in pyproject.toml lists it (its top layer)."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    bot = next(contract for contract in contracts["contracts"] if contract["id"] == "bot")
    return {f"bot.{name.strip()}" for name in bot["layers"][0].split(":")}


def test_run_py_imports_the_face_config_and_the_channel_registry() -> None:
    face = _face_modules()
    assert {"bot.composition", "bot.app", "bot.terminal"} <= face
    project = {
        module for module in _imported_modules(ROOT / "run.py") if module.split(".")[0] in PROJECT_PACKAGES
    }

    def allowed(module: str) -> bool:
        top = ".".join(module.split(".")[:2])
        return top in face or module == "config" or module == "channels.registry"

    beyond = sorted(module for module in project if not allowed(module))

    # Of channels/ only the registry: run.py reaches every channel by name through it.
    assert [module for module in project if module.startswith("channels.")] == ["channels.registry"]
    assert set(beyond) <= ADMIN_VERB_IMPORTS, beyond


# One concept per module: past this a module is holding several (issue 19 measured 1,072 and 1,004).
MAX_MODULE_LINES = 600


def test_no_module_is_over_600_lines() -> None:
    sources = [ROOT / "run.py", *(p for package in PROJECT_PACKAGES for p in (ROOT / package).rglob("*.py"))]
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in sources
        if "migrations" not in path.parts
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}, f"split these into modules of one concept each: {too_long}"
