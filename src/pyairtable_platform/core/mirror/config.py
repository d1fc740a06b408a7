"""Settings of the mirror and its jobs (env prefix ``CORE_MIRROR_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MirrorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CORE_MIRROR_", extra="ignore")

    # The scheduler looks for bases not synced for this long (incremental sync).
    sync_interval_seconds: int = Field(default=300, ge=10)
    # ... and re-reads every record (drops records deleted upstream) this often.
    reconcile_interval_seconds: int = Field(default=3600, ge=60)
    # Incremental sync re-reads records modified this long before the previous sync
    # started: clocks of Airtable and this host differ, and a write committed late
    # carries the time its transaction started.
    incremental_overlap_seconds: int = Field(default=120, ge=0)
    # Bases the scheduler queues per run.
    schedule_batch: int = Field(default=50, ge=1)
    # A sync holds its lock this long without progress before another may take over.
    lock_ttl_seconds: int = Field(default=120, ge=10)
