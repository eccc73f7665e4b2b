"""Settings: DESIGN.md's names and defaults, and start-up errors that say what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.registry import missing_settings, plugins
from channels.slack.settings import SlackSettings
from channels.sms.settings import SmsSettings
from channels.telegram.settings import TelegramSettings
from channels.whatsapp.settings import WhatsAppSettings
from config import LLMMode, SettingsError, load_settings


def test_defaults_match_the_design(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here

    settings = load_settings()

    assert settings.data_dir == Path("./data")
    assert settings.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.resolved_database_url.endswith("data/coachline.db")
    assert settings.chroma_url == ""
    assert settings.llm is LLMMode.AUTO
    assert (settings.ollama_url, settings.ollama_model) == ("http://127.0.0.1:11434", "llama3.1:8b")
    assert settings.embeddings == "local"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.admins == [] and settings.api_key == ""
    assert TelegramSettings.load().api_url == "https://api.telegram.org"
    assert SlackSettings.load().api_url == "https://slack.com/api/"
    assert SmsSettings.load().api_url == "https://api.twilio.com"
    assert WhatsAppSettings.load().api_url == "https://api.twilio.com"


def test_variables_are_read_by_their_design_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("COACH_LLM", "offline")
    monkeypatch.setenv("COACH_PORT", "9001")
    monkeypatch.setenv("COACH_ADMINS", "telegram:42, slack:U123,sms:+15550001111,web:alice")
    monkeypatch.setenv("COACH_DATABASE_URL", "postgresql+asyncpg://u@db/coach")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")

    settings = load_settings()

    assert settings.data_dir == tmp_path / "d"
    assert settings.llm is LLMMode.OFFLINE
    assert settings.port == 9001
    assert settings.admin_accounts() == {
        ("telegram", "42"),
        ("slack", "U123"),
        ("sms", "+15550001111"),
        ("web", "alice"),
    }
    assert settings.resolved_database_url == "postgresql+asyncpg://u@db/coach"
    assert not settings.is_sqlite
    assert TelegramSettings.load().bot_token == "123:abc"


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "COACH_OLLAMA_MODEL=qwen2.5:7b\nTWILIO_ACCOUNT_SID=AC1\nTWILIO_AUTH_TOKEN=t\n"
        "WHATSAPP_FROM_NUMBER=whatsapp:+14155238886\nSLACK_BOT_TOKEN=xoxb-1\nSLACK_APP_TOKEN=xapp-1\n"
    )

    assert load_settings().ollama_model == "qwen2.5:7b"
    # Channels read their own variables from the same file.
    assert WhatsAppSettings.load().whatsapp_from_number == "whatsapp:+14155238886"
    assert missing_settings("whatsapp") == []
    assert missing_settings("sms") == ["TWILIO_FROM_NUMBER"]
    assert SlackSettings.load().app_token == "xapp-1" and missing_settings("slack") == []


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("COACH_LLM", "gpt", "COACH_LLM"),
        ("COACH_PORT", "eighty", "COACH_PORT"),
        ("COACH_ADMINS", "telegram42", "not channel:user_id"),
        ("COACH_ADMINS", "icq:42", "unknown channel"),
        ("COACH_DATABASE_URL", "postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("COACH_OLLAMA_URL", "localhost:11434", "COACH_OLLAMA_URL"),
        ("COACH_EMBEDDINGS", "openai", "ollama:<model>"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError) as error:
        load_settings()

    assert message in str(error.value)


def test_every_problem_is_listed_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COACH_PORT", "-1")
    monkeypatch.setenv("COACH_LLM", "nope")

    with pytest.raises(SettingsError) as error:
        load_settings()

    assert "COACH_PORT" in str(error.value) and "COACH_LLM" in str(error.value)


def test_env_example_documents_every_setting() -> None:
    example = (Path(__file__).resolve().parents[1] / "config" / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")
    }

    from config.settings import _env_names

    channel_names = {name for plugin in plugins().values() for name in plugin.settings.env_names().values()}
    assert set(_env_names().values()) | channel_names == documented


def test_env_example_copied_to_dotenv_is_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    example = Path(__file__).resolve().parents[1] / "config" / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())

    settings = load_settings()

    assert settings.llm is LLMMode.AUTO and settings.port == 8000
    assert settings.resolved_models_dir == Path("data/models")
