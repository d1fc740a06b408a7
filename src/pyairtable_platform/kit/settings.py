"""Settings shared by every service.

Each service defines its own ``Settings`` subclass with its own env prefix; names that
users already know (``DATABASE_URL``, ``REDIS_URL``, ``AIRTABLE_API_KEY``...) are read
unprefixed through explicit aliases.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Values that ship in examples and must never reach production.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changethis", "change-me", "changeme", "secret", "dev-insecure-secret-key-change-me"}
)


class Environment(StrEnum):
    LOCAL = "local"
    TEST = "test"
    PRODUCTION = "production"


def parse_list(value: Any) -> Any:
    """Accept a JSON array or a comma-separated string for list settings.

    The earlier system crashed at start because ``ALLOWED_EXTENSIONS=pdf,docx`` was fed to
    a JSON decoder; both spellings are accepted here.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                decoded = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a valid JSON list: {exc.msg}") from exc
            if not isinstance(decoded, list):
                raise ValueError("expected a JSON list")
            return [str(item).strip() for item in decoded if str(item).strip()]
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(parse_list)]


def env_alias(*names: str) -> Any:
    return Field(validation_alias=AliasChoices(*names))


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set ``env_prefix``."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    environment: Environment = Field(
        default=Environment.LOCAL, validation_alias=AliasChoices("ENVIRONMENT", "APP_ENV")
    )
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("LOG_LEVEL"))
    log_json: bool = Field(default=True, validation_alias=AliasChoices("LOG_JSON"))
    # Logging every request costs CPU under heavy load; operators may turn it off.
    log_requests: bool = Field(default=True, validation_alias=AliasChoices("LOG_REQUESTS"))
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", validation_alias=AliasChoices("REDIS_URL")
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    ready_timeout_seconds: float = 2.0

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    def _require_secret(self, name: str, value: SecretStr | None, min_length: int = 32) -> None:
        if not self.is_production:
            return
        raw = value.get_secret_value() if value is not None else ""
        if raw.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(
                f"{name} is missing or a placeholder; set a real secret "
                f"(at least {min_length} characters) before running with ENVIRONMENT=production"
            )
        if len(raw) < min_length:
            raise ValueError(
                f"{name} is too short ({len(raw)} characters); "
                f"use at least {min_length} in production"
            )


class DatabaseSettings(ServiceSettings):
    """Settings of a service that talks to PostgreSQL."""

    database_url: SecretStr = Field(
        default=SecretStr("postgresql://application_user@127.0.0.1:5432/pyairtable"),
        validation_alias=AliasChoices("DATABASE_URL"),
    )
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_statement_timeout_ms: int = 30_000

    @model_validator(mode="after")
    def _check_database_url(self) -> DatabaseSettings:
        url = self.database_url.get_secret_value()
        if not url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        return self
