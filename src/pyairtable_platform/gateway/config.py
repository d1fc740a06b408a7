"""Settings of the unified gateway (env prefix ``GATEWAY_``)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from pyairtable_platform.kit.settings import CommaList, ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    port: int = 8000
    core_url: str = Field(
        default="http://127.0.0.1:8001",
        validation_alias=AliasChoices("GATEWAY_CORE_URL", "CORE_URL"),
    )
    ai_url: str = Field(
        default="http://127.0.0.1:8002", validation_alias=AliasChoices("GATEWAY_AI_URL", "AI_URL")
    )
    health_timeout_seconds: float = 2.0
    cors_origins: CommaList = Field(
        default=[], validation_alias=AliasChoices("GATEWAY_CORS_ORIGINS", "CORS_ORIGINS")
    )
