"""The documentation tells the truth about the settings: every variable any settings class reads is in
the README's configuration table and in `config/.env.example`.

Settings classes are found, not listed: every pydantic-settings model defined in the project's packages
(the core's `config.Settings`, and any a channel package brings), with its variables' names taken from
the field aliases or, without one, the model's `env_prefix` and the field name.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

from pydantic import AliasChoices, AliasPath
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "channels", "bot", "coaching", "programs")


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def settings_classes() -> list[type[BaseSettings]]:
    """Every pydantic-settings model in the project (importing its packages to find them)."""
    for name in PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            if ".migrations" not in module.name:
                importlib.import_module(module.name)
    return sorted(
        (cls for cls in _subclasses(BaseSettings) if cls.__module__.split(".")[0] in PACKAGES),
        key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
    )


def environment_names(model: type[BaseSettings]) -> set[str]:
    """The variables a settings model reads."""
    prefix = str(model.model_config.get("env_prefix", ""))
    names = set()
    for field_name, field in model.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            first = next((choice for choice in alias.choices if isinstance(choice, str)), None)
            names.add(first or field_name)
        elif isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasPath) or alias is None:
            names.add(field.alias or f"{prefix}{field_name}")
    return {name.upper() for name in names}


def readme_configuration_variables() -> set[str]:
    """The variables named in the first column of the README's configuration table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    first_cells = [row.split("|")[1] for row in rows]
    return {name for cell in first_cells for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}


def test_settings_are_found() -> None:
    names = {name for model in settings_classes() for name in environment_names(model)}

    assert {"COACH_DATA_DIR", "TELEGRAM_API_URL", "SLACK_API_URL", "TWILIO_API_URL"} <= names


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    documented = readme_configuration_variables()
    missing = {
        f"{model.__module__}.{model.__qualname__}": sorted(environment_names(model) - documented)
        for model in settings_classes()
    }

    assert {model: names for model, names in missing.items() if names} == {}


def test_every_setting_is_in_the_example_env_file() -> None:
    example = (ROOT / "config" / ".env.example").read_text(encoding="utf-8")
    written = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    missing = {name for model in settings_classes() for name in environment_names(model)} - written

    assert sorted(missing) == []


def test_the_readme_writes_commands_one_way() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # `.venv/bin/python run.py ...` everywhere: it works without activating the venv.
    bare = [
        line for line in readme.splitlines() if re.search(r"(?<![/\w])python3? (run\.py|-m (?!venv))", line)
    ]

    assert bare == []


def _imported_packages(package: str) -> set[str]:
    """The project's other top-level packages that `package` imports anywhere (migrations aside)."""
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            found |= {module.split(".")[0] for module in modules}
    return (found & set(PACKAGES)) - {package}


def test_the_architecture_parts_table_says_what_each_package_imports() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text.split("\n## Parts\n", 1)[1].split("\n## ", 1)[0]
    documented = {}
    for row in table.splitlines():
        cells = row.split("|")
        if len(cells) == 5 and (name := re.fullmatch(r"\s*`(\w+)/`\s*", cells[1])):
            documented[name[1]] = {
                match.split(".")[0] for match in re.findall(r"`([a-z_.]+)`", cells[3])
            } & set(PACKAGES)

    assert documented == {package: _imported_packages(package) for package in PACKAGES}
