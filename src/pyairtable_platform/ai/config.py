"""Settings of the AI service (env prefix ``AI_``, plus the provider names users know)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from pyairtable_platform.kit.crypto import SecretBox
from pyairtable_platform.kit.settings import DatabaseSettings

PRICE_KEYS = ("input", "output", "cached_input")


def _parse_prices(value: Any) -> Any:
    """``{"model": {"input": "0.30", "output": "2.50", ...}}`` in USD per million tokens."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"AI_MODEL_PRICES is not valid JSON: {exc.msg}") from exc
    if not isinstance(value, dict):
        raise ValueError('AI_MODEL_PRICES must be a JSON object {"model": {"input": ...}}')
    parsed: dict[str, dict[str, Decimal]] = {}
    for model, prices in value.items():
        if not isinstance(prices, dict):
            raise ValueError(f"AI_MODEL_PRICES[{model!r}] must be an object")
        unknown = set(prices) - set(PRICE_KEYS)
        if unknown:
            raise ValueError(
                f"AI_MODEL_PRICES[{model!r}] has unknown keys {sorted(unknown)}; use {PRICE_KEYS}"
            )
        try:
            parsed[str(model)] = {k: Decimal(str(v)) for k, v in prices.items()}
        except InvalidOperation as exc:
            raise ValueError(f"AI_MODEL_PRICES[{model!r}] has a non-numeric price") from exc
    return parsed


class AiSettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="AI_", extra="ignore")

    port: int = 8002
    core_url: str = Field(
        default="http://127.0.0.1:8001", validation_alias=AliasChoices("AI_CORE_URL", "CORE_URL")
    )
    # Where the agent reaches core's MCP server; defaults to ``{core_url}/mcp``.
    mcp_url: str | None = Field(default=None, validation_alias=AliasChoices("AI_MCP_URL"))

    # --- providers (deployment defaults; workspaces may override through PUT /api/v1/ai/provider)
    llm_provider: str | None = Field(
        default=None, validation_alias=AliasChoices("AI_LLM_PROVIDER", "LLM_PROVIDER")
    )
    llm_model: str = Field(
        default="gemini-2.5-flash", validation_alias=AliasChoices("AI_LLM_MODEL", "LLM_MODEL")
    )
    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GEMINI_API_KEY", "GOOGLE_API_KEY")
    )
    gemini_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("AI_GEMINI_BASE_URL", "GEMINI_BASE_URL")
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
    anthropic_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("AI_ANTHROPIC_BASE_URL", "ANTHROPIC_BASE_URL")
    )
    # Workspace LLM keys are encrypted with the same key ring as core's secrets.
    secret_key: SecretStr = Field(
        default=SecretStr("dev-insecure-secret-key-change-me"),
        validation_alias=AliasChoices("AI_SECRET_KEY", "SECRET_KEY"),
    )
    secrets_encryption_keys: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("AI_SECRETS_ENCRYPTION_KEYS", "SECRETS_ENCRYPTION_KEYS"),
    )

    # --- the agent loop
    max_tool_calls_per_turn: int = Field(default=12, ge=1, le=100)
    max_model_requests_per_turn: int = Field(default=16, ge=1, le=100)
    turn_timeout_seconds: float = Field(default=120.0, gt=0)
    provider_timeout_seconds: float = Field(default=60.0, gt=0)
    provider_max_retries: int = Field(default=1, ge=0, le=5)
    tool_result_max_chars: int = Field(default=12_000, ge=500)
    context_tokens: int = Field(default=100_000, ge=2_000)
    default_max_output_tokens: int = Field(default=4_096, ge=16)

    # --- costs
    model_prices: Annotated[dict[str, dict[str, Decimal]], NoDecode] = Field(default_factory=dict)

    @field_validator("model_prices", mode="before")
    @classmethod
    def _prices(cls, value: Any) -> Any:
        return _parse_prices(value)

    @model_validator(mode="after")
    def _secrets(self) -> AiSettings:
        if self.is_production and self.secrets_encryption_keys is None:
            raise ValueError("SECRETS_ENCRYPTION_KEYS is required in production")
        return self

    @property
    def resolved_mcp_url(self) -> str:
        return self.mcp_url or self.core_url.rstrip("/") + "/mcp"

    def secret_box(self) -> SecretBox:
        raw = self.secrets_encryption_keys
        return SecretBox.from_setting(
            raw.get_secret_value() if raw else None,
            fallback_secret=self.secret_key.get_secret_value(),
            production=self.is_production,
        )
