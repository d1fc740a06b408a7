"""Settings of the AI service (env prefix ``AI_``, plus the provider names users know)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from pyairtable_platform.kit.settings import DatabaseSettings


class AiSettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="AI_", extra="ignore")

    port: int = 8002
    core_url: str = Field(
        default="http://127.0.0.1:8001", validation_alias=AliasChoices("AI_CORE_URL", "CORE_URL")
    )
    llm_model: str = Field(
        default="gemini-2.5-flash", validation_alias=AliasChoices("AI_LLM_MODEL", "LLM_MODEL")
    )
    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GEMINI_API_KEY", "GOOGLE_API_KEY")
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL")
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY")
    )
