"""Settings of the Airtable client, rate limiter and cache (env prefix ``CORE_AIRTABLE_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AirtableSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CORE_AIRTABLE_", extra="ignore")

    # Airtable's documented limits: 5 requests/s per base, 50 requests/s per token.
    rate_per_base: int = Field(default=5, ge=1)
    rate_per_token: int = Field(default=50, ge=1)
    # The limiter counts requests in a window slightly longer than Airtable's second: a
    # request starts a little after its slot is granted (thread hand-off, network), and
    # that delay must never squeeze six requests into one of Airtable's seconds.
    window_margin_ms: int = Field(default=50, ge=0, le=1000)
    # How long a caller waits for a slot before it gets 503 airtable_busy.
    max_wait_seconds: float = Field(default=30.0, gt=0)
    # How long a base is closed for everyone after Airtable answered 429.
    pause_seconds: float = Field(default=30.0, gt=0)

    cache_bases_ttl_seconds: int = Field(default=4 * 3600, ge=0)
    cache_schema_ttl_seconds: int = Field(default=3600, ge=0)
    cache_records_ttl_seconds: int = Field(default=300, ge=0)
    # A single-flight leader holds its lock this long without renewing it; when a leader
    # dies, a waiter takes over after at most this long.
    singleflight_lock_ttl_seconds: float = Field(default=5.0, gt=0)

    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    read_timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    retry_backoff_seconds: float = Field(default=0.25, ge=0)
    # Worker threads per client that run pyairtable's (blocking) requests.
    threads: int = Field(default=8, ge=1, le=64)
    # Chunks of 10 records a single write keeps in flight.
    write_concurrency: int = Field(default=3, ge=1, le=10)
