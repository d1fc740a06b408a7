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
    # An uncertain create (Airtable never answered) is reconciled against the mirror this
    # long after it was recorded: a request that is still on its way has landed by then.
    reconcile_delay_seconds: int = Field(default=30, ge=0, le=86_400)
    # Records created this long before an uncertain attempt still count as its result
    # (clock skew between the platform and Airtable).
    reconcile_clock_skew_seconds: int = Field(default=5, ge=0, le=3600)
