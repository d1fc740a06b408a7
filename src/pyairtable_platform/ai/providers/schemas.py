"""Provider settings as the API shows them: the key goes in, never comes out."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

ProviderName = Literal["gemini", "openai", "anthropic", "openai-compatible"]
PROVIDER_NAMES: tuple[ProviderName, ...] = ("gemini", "openai", "anthropic", "openai-compatible")


class ProviderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: ProviderName
    model: str | None = Field(default=None, min_length=1, max_length=200)
    api_key: SecretStr | None = Field(default=None, min_length=1, max_length=1000)
    base_url: str | None = Field(
        default=None,
        max_length=500,
        pattern=r"^https?://[^\s]+$",
        examples=["http://ollama:11434/v1"],
    )


class ProviderView(BaseModel):
    configured: bool
    source: Literal["workspace", "deployment"] | None
    provider: ProviderName | None
    model: str | None
    base_url: str | None
    has_api_key: bool
