"""Coachline settings, read from the environment (and `.env`) with the names fixed in DESIGN.md.

These are the core's. Each channel declares its own settings in its package (see
`channels.plugin.ChannelSettings`).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The channel registry is the one list of channel names (any installed channel plugin counts), but
# config sits below the channels and never imports them: the registry hands its check in here when
# it is imported (`use_channel_name_check`). Until then COACH_ADMINS is checked for its shape only.
_channel_name_check: Callable[[str], object] | None = None


def use_channel_name_check(check: Callable[[str], object]) -> None:
    """Check each COACH_ADMINS entry's channel with `check` (a `ValueError` naming the known ones)."""
    global _channel_name_check
    _channel_name_check = check


class LLMMode(StrEnum):
    """How replies are generated."""

    AUTO = "auto"
    OLLAMA = "ollama"
    OFFLINE = "offline"


class SettingsError(ValueError):
    """Raised when the configuration is invalid; its message lists every problem by variable name."""


class Settings(BaseSettings):
    """Every setting of a Coachline deployment. Defaults make a one-machine install work untouched."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(Path("./data"), validation_alias=AliasChoices("COACH_DATA_DIR", "data_dir"))
    database_url: str = Field("", validation_alias=AliasChoices("COACH_DATABASE_URL", "database_url"))
    chroma_url: str = Field("", validation_alias=AliasChoices("COACH_CHROMA_URL", "chroma_url"))
    llm: LLMMode = Field(LLMMode.AUTO, validation_alias=AliasChoices("COACH_LLM", "llm"))
    ollama_url: str = Field(
        "http://127.0.0.1:11434", validation_alias=AliasChoices("COACH_OLLAMA_URL", "ollama_url")
    )
    ollama_model: str = Field(
        "llama3.1:8b", validation_alias=AliasChoices("COACH_OLLAMA_MODEL", "ollama_model")
    )
    llm_timeout: float = Field(
        10.0,
        gt=0,
        validation_alias=AliasChoices("COACH_LLM_TIMEOUT", "llm_timeout"),
        description="After its first token, an answer may take 6 times this (at least 60 s).",
    )
    llm_first_token_timeout: float = Field(
        60.0,
        gt=0,
        validation_alias=AliasChoices("COACH_LLM_FIRST_TOKEN_TIMEOUT", "llm_first_token_timeout"),
        description="Seconds to wait for the model's first token before answering offline; a model on "
        "CPU can take tens of seconds to read a RAG prompt, so the default is generous.",
    )
    embeddings: str = Field("local", validation_alias=AliasChoices("COACH_EMBEDDINGS", "embeddings"))
    models_dir: Path | None = Field(
        None,
        validation_alias=AliasChoices("COACH_MODELS_DIR", "models_dir"),
        description="Where the local embedding model is kept; default DATA_DIR/models.",
    )
    max_upload_mb: float = Field(
        20.0, gt=0, validation_alias=AliasChoices("COACH_MAX_UPLOAD_MB", "max_upload_mb")
    )
    min_relevance: float = Field(
        0.1,
        ge=0,
        le=1,
        validation_alias=AliasChoices("COACH_MIN_RELEVANCE", "min_relevance"),
        description="A floor: passages less relevant than this are never used to answer. Above it, the "
        "calibrated answerability model (coaching/answerability.py) decides whether to answer.",
    )
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("COACH_HOST", "host"))
    port: int = Field(8000, ge=0, le=65535, validation_alias=AliasChoices("COACH_PORT", "port"))
    public_url: str = Field("", validation_alias=AliasChoices("COACH_PUBLIC_URL", "public_url"))
    admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=AliasChoices("COACH_ADMINS", "admins")
    )
    api_key: str = Field("", validation_alias=AliasChoices("COACH_API_KEY", "api_key"))
    secret_key: str = Field(
        "",
        validation_alias=AliasChoices("COACH_SECRET_KEY", "secret_key"),
        description="Signs the web chat's session cookie; generated into the data dir when unset.",
    )
    default_creator_name: str = Field(
        "Coach", validation_alias=AliasChoices("COACH_DEFAULT_CREATOR_NAME", "default_creator_name")
    )
    max_message_chars: int = Field(
        20_000, gt=0, validation_alias=AliasChoices("COACH_MAX_MESSAGE_CHARS", "max_message_chars")
    )
    memory_turns: int = Field(12, ge=0, validation_alias=AliasChoices("COACH_MEMORY_TURNS", "memory_turns"))
    reply_wait_seconds: float = Field(
        90.0, gt=0, validation_alias=AliasChoices("COACH_REPLY_WAIT_SECONDS", "reply_wait_seconds")
    )
    claim_lease_seconds: float = Field(
        30.0, gt=0, validation_alias=AliasChoices("COACH_CLAIM_LEASE_SECONDS", "claim_lease_seconds")
    )
    worker_concurrency: int = Field(
        8, ge=1, validation_alias=AliasChoices("COACH_WORKER_CONCURRENCY", "worker_concurrency")
    )
    sender_rate: float = Field(
        20.0,
        ge=0,
        validation_alias=AliasChoices("COACH_SENDER_RATE", "sender_rate"),
        description="Messages a minute one sender may keep up; more are answered once with 'slow down' "
        "and set aside unanswered. 0 turns the limit off.",
    )
    sender_burst: int = Field(
        10,
        ge=1,
        validation_alias=AliasChoices("COACH_SENDER_BURST", "sender_burst"),
        description="Messages one sender may send at once before COACH_SENDER_RATE applies.",
    )
    inbox_lag_degraded_seconds: float = Field(
        30.0,
        gt=0,
        validation_alias=AliasChoices("COACH_INBOX_LAG_SECONDS", "inbox_lag_degraded_seconds"),
        description="/health/integration says degraded when the oldest waiting message is older than this.",
    )
    max_body_mb: float = Field(
        2.0,
        gt=0,
        validation_alias=AliasChoices("COACH_MAX_BODY_MB", "max_body_mb"),
        description="Largest request body outside uploads; larger ones get 413 before they are read.",
    )
    claim_code_hours: float = Field(
        168.0,
        gt=0,
        validation_alias=AliasChoices("COACH_CLAIM_CODE_HOURS", "claim_code_hours"),
        description="Hours a new creator's claim code stays valid.",
    )
    claim_attempts: int = Field(
        5,
        ge=1,
        validation_alias=AliasChoices("COACH_CLAIM_ATTEMPTS", "claim_attempts"),
        description="Wrong claim codes one person may send in an hour.",
    )
    send_max_attempts: int = Field(
        8, ge=1, validation_alias=AliasChoices("COACH_SEND_MAX_ATTEMPTS", "send_max_attempts")
    )
    log_level: str = Field("INFO", validation_alias=AliasChoices("COACH_LOG_LEVEL", "log_level"))
    program_tick_seconds: float = Field(
        30.0,
        gt=0,
        validation_alias=AliasChoices("COACH_PROGRAM_TICK_SECONDS", "program_tick_seconds"),
        description="How often due program steps are looked for (the finest timing a step can have).",
    )
    misfire_grace_seconds: float = Field(
        3600.0,
        gt=0,
        validation_alias=AliasChoices("COACH_MISFIRE_GRACE_SECONDS", "misfire_grace_seconds"),
        description="A daily or cron program step later than this (downtime) is skipped to its next time.",
    )
    personality_cache_ttl: float = Field(
        3600.0,
        ge=0,
        validation_alias=AliasChoices("PERSONALITY_CACHE_TTL", "personality_cache_ttl"),
        description="Seconds a creator's personality profile is cached before it is looked up again.",
    )

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("models_dir", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("admins")
    @classmethod
    def _check_admins(cls, value: list[str]) -> list[str]:
        for entry in value:
            channel, sep, user_id = entry.partition(":")
            if not sep or not user_id:
                raise ValueError(f"{entry!r} is not channel:user_id (e.g. web:alice)")
            if _channel_name_check is not None:
                try:
                    _channel_name_check(channel)
                except ValueError as exc:
                    raise ValueError(f"{entry!r}: {exc}") from None
        return value

    @field_validator("ollama_url")
    @classmethod
    def _check_http_url(cls, value: str) -> str:
        require_http_url(value)
        return value

    @field_validator("public_url", "chroma_url")
    @classmethod
    def _check_optional_url(cls, value: str) -> str:
        if value:
            require_http_url(value)
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and not (
            value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")
        ):
            if value.startswith(("postgresql://", "postgres://")):
                raise ValueError("use the async driver: postgresql+asyncpg://" + value.split("://", 1)[1])
            raise ValueError("use sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db")
        return value

    @field_validator("embeddings")
    @classmethod
    def _check_embeddings(cls, value: str) -> str:
        if value != "local" and not (value.startswith("ollama:") and len(value) > len("ollama:")):
            raise ValueError("use 'local' or 'ollama:<model>' (e.g. ollama:nomic-embed-text)")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("use DEBUG, INFO, WARNING or ERROR")
        return level

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'coachline.db').resolve()}"

    @property
    def resolved_models_dir(self) -> Path:
        """Where the local embedding model lives."""
        return self.models_dir or self.data_dir / "models"

    @property
    def max_upload_bytes(self) -> int:
        """`COACH_MAX_UPLOAD_MB` in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_body_bytes(self) -> int:
        """`COACH_MAX_BODY_MB` in bytes."""
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite (one machine) rather than PostgreSQL."""
        return self.resolved_database_url.startswith("sqlite")

    def admin_accounts(self) -> set[tuple[str, str]]:
        """`COACH_ADMINS` as (channel, user_id) pairs."""
        return {(entry.split(":", 1)[0], entry.split(":", 1)[1]) for entry in self.admins}


def require_http_url(value: str) -> None:
    """`ValueError` unless `value` is an http(s) URL (for settings that name a server)."""
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise ValueError(f"{value!r} is not an http(s) URL")


# Field name -> environment variable, for error messages that name what the operator sets.
def _env_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices) and alias.choices and isinstance(alias.choices[0], str):
            names[name] = alias.choices[0]
    return names


def describe_errors(exc: ValidationError, env_names: dict[str, str]) -> str:
    """A validation error as one line per problem, each naming the variable the operator sets."""
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        variable = env_names.get(location, location) if location else "configuration"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"  {variable}: {message}")
    return "invalid configuration:\n" + "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; raise `SettingsError` naming every bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, _env_names())) from None
