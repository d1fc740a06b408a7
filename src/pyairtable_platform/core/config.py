"""Settings of the core platform service (env prefix ``CORE_``, plus shared names)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

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

    @model_validator(mode="after")
    def _enforce_secrets(self) -> CoreSettings:
        self._require_secret("SECRET_KEY", self.secret_key)
        return self
