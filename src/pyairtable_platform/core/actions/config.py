"""Settings of safe writes (env prefix ``CORE_ACTIONS_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ActionsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CORE_ACTIONS_", extra="ignore")

    # How long a previewed write can be approved.
    approval_ttl_seconds: int = Field(default=900, ge=10, le=7 * 86_400)
    # Records one action may touch; its before/after snapshots are kept in the row.
    max_records: int = Field(default=5000, ge=1, le=100_000)
