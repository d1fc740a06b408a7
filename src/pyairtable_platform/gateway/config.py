"""Settings of the unified gateway (env prefix ``GATEWAY_``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, BeforeValidator, Field, PlainSerializer
from pydantic_settings import NoDecode, SettingsConfigDict

from pyairtable_platform.kit.settings import CommaList, ServiceSettings

# src/pyairtable_platform/gateway/config.py -> the checkout's frontend/out; images set the path.
_DEFAULT_FRONTEND_DIR = Path(__file__).resolve().parents[3] / "frontend" / "out"

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour|d|day)s?\s*$")
_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_PERIODS |= {"h": 3600, "hour": 3600, "d": 86400, "day": 86400}


@dataclass(frozen=True)
class Rate:
    """``limit`` requests per ``period`` seconds, written ``600/minute`` or ``10/5s``."""

    limit: int
    period: int

    def __str__(self) -> str:
        return f"{self.limit}/{self.period}s"


def parse_rate(value: object) -> object:
    if not isinstance(value, str):
        return value
    match = _RATE.match(value.lower())
    if not match:
        raise ValueError(f"{value!r} is not a rate; write it like '600/minute' or '10/5s'")
    count, multiplier, unit = match.groups()
    limit, period = int(count), int(multiplier or 1) * _PERIODS[unit]
    if limit < 1 or period < 1:
        raise ValueError(f"{value!r}: limit and period must be at least 1")
    return Rate(limit, period)


# NoDecode: the env source would otherwise try to read a dataclass as JSON.
RateSetting = Annotated[Rate, NoDecode, BeforeValidator(parse_rate), PlainSerializer(str)]

MIB = 1024 * 1024


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", extra="ignore", arbitrary_types_allowed=True
    )

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

    # Upstream connections. The read timeout is the longest silence allowed between two
    # chunks, so it must outlast an LLM thinking between SSE events.
    upstream_connect_timeout_seconds: float = 3.0
    upstream_read_timeout_seconds: float = 300.0
    upstream_pool_timeout_seconds: float = 5.0
    upstream_max_connections: int = 512

    # Rate limits, shared by every gateway replica through Redis.
    rate_limit_enabled: bool = True
    rate_limit_anonymous: RateSetting = Rate(60, 60)
    rate_limit_authenticated: RateSetting = Rate(600, 60)
    rate_limit_auth: RateSetting = Rate(20, 60)
    rate_limit_sandbox: RateSetting = Rate(600, 60)
    # A busy bucket may take up to this fraction of its limit from Redis at once and spend
    # it locally for at most lease_seconds (gateway/ratelimit.py); 0 asks Redis per request.
    rate_limit_lease_fraction: float = Field(default=0.01, ge=0, le=0.1)
    rate_limit_lease_seconds: float = Field(default=1.0, ge=0, le=10)

    # Body limits per route class; uploads go to the path prefixes listed.
    max_body_bytes: int = 1 * MIB
    max_upload_body_bytes: int = 50 * MIB
    upload_paths: CommaList = Field(default=["/api/v1/files"])

    # Static frontend (Next.js export) and security headers.
    frontend_dir: Path = _DEFAULT_FRONTEND_DIR
    content_security_policy: str = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
    api_content_security_policy: str = "default-src 'none'; frame-ancestors 'none'"
    hsts_max_age_seconds: int = 63_072_000

    # Token checks: verified access tokens are remembered this long (never past their exp).
    token_cache_seconds: float = 30.0
    token_cache_size: int = 50_000

    # The merged OpenAPI document is rebuilt from core and ai at most this often.
    openapi_cache_seconds: float = 30.0
