"""Settings of the core platform service (env prefix ``CORE_``, plus shared names)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from pyairtable_platform.core.auth.keys import SigningKeyRing
from pyairtable_platform.kit.crypto import SecretBox
from pyairtable_platform.kit.settings import CommaList, DatabaseSettings


class CoreSettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="CORE_", extra="ignore")

    port: int = 8001
    secret_key: SecretStr = Field(
        default=SecretStr("dev-insecure-secret-key-change-me"),
        validation_alias=AliasChoices("CORE_SECRET_KEY", "SECRET_KEY"),
    )
    allowed_extensions: CommaList = Field(
        default=["pdf", "doc", "docx", "txt", "csv", "xlsx"],
        validation_alias=AliasChoices("CORE_ALLOWED_EXTENSIONS", "ALLOWED_EXTENSIONS"),
    )
    max_upload_mb: int = Field(
        default=25, validation_alias=AliasChoices("CORE_MAX_UPLOAD_MB", "MAX_UPLOAD_MB")
    )
    airtable_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AIRTABLE_API_KEY", "AIRTABLE_TOKEN")
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000", validation_alias=AliasChoices("PUBLIC_URL")
    )

    # --- accounts and auth (docs/decisions/0004-auth.md) ---
    jwt_private_keys: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CORE_JWT_PRIVATE_KEYS", "JWT_PRIVATE_KEYS")
    )
    access_token_ttl_seconds: int = Field(
        default=900,
        ge=30,
        le=86_400,
        validation_alias=AliasChoices("CORE_ACCESS_TOKEN_TTL_SECONDS", "ACCESS_TOKEN_TTL_SECONDS"),
    )
    refresh_token_ttl_days: int = Field(
        default=30,
        ge=1,
        validation_alias=AliasChoices("CORE_REFRESH_TOKEN_TTL_DAYS", "REFRESH_TOKEN_TTL_DAYS"),
    )
    secrets_encryption_keys: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("CORE_SECRETS_ENCRYPTION_KEYS", "SECRETS_ENCRYPTION_KEYS"),
    )
    mail_sender: Literal["outbox", "console"] = Field(
        default="outbox", validation_alias=AliasChoices("CORE_MAIL_SENDER", "MAIL_SENDER")
    )
    email_verification_ttl_hours: int = 48
    password_reset_ttl_minutes: int = 60
    invitation_ttl_days: int = 7
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = 50
    login_lockout_base_seconds: float = 1.0
    login_lockout_max_seconds: float = 900.0
    trust_forwarded_for: bool = True

    # --- data retention and time series (docs/data.md) ---
    audit_retention_days: int = Field(
        default=2557,  # seven years
        ge=1,
        validation_alias=AliasChoices("CORE_AUDIT_RETENTION_DAYS", "AUDIT_RETENTION_DAYS"),
    )
    # 0 keeps the rows forever.
    usage_retention_days: int = Field(
        default=365,
        ge=0,
        validation_alias=AliasChoices("CORE_USAGE_RETENTION_DAYS", "USAGE_RETENTION_DAYS"),
    )
    message_retention_days: int = Field(
        default=0,
        ge=0,
        validation_alias=AliasChoices("CORE_MESSAGE_RETENTION_DAYS", "MESSAGE_RETENTION_DAYS"),
    )
    partitions_ahead_days: int = Field(default=30, ge=1, le=400)

    # --- sandbox Airtable (docs/sandbox.md) ---
    sandbox_rate_limit_enabled: bool = True
    sandbox_rate_limit_per_base: int = Field(default=5, ge=1)
    sandbox_rate_limit_per_token: int = Field(default=50, ge=1)
    # Airtable blocks for 30 s after a 429; 0 lets clients' short retries succeed.
    sandbox_rate_limit_penalty_seconds: float = Field(default=0.0, ge=0)
    sandbox_faults_enabled: bool = True

    @model_validator(mode="after")
    def _enforce_secrets(self) -> CoreSettings:
        self._require_secret("SECRET_KEY", self.secret_key)
        # Parse the key rings now so a bad or missing key stops the service at start with a
        # clear message instead of failing the first login.
        self.signing_keys()
        self.secret_box()
        return self

    def signing_keys(self) -> SigningKeyRing:
        raw = self.jwt_private_keys.get_secret_value() if self.jwt_private_keys else None
        return SigningKeyRing.from_setting(
            raw, secret_key=self.secret_key.get_secret_value(), production=self.is_production
        )

    def secret_box(self) -> SecretBox:
        raw = self.secrets_encryption_keys
        return SecretBox.from_setting(
            raw.get_secret_value() if raw else None,
            fallback_secret=self.secret_key.get_secret_value(),
            production=self.is_production,
        )
