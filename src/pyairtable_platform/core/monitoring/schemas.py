"""Response shapes of the monitoring endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class QueryStatOut(BaseModel):
    queryid: int | None
    query: str
    calls: int
    rows: int
    total_exec_ms: float
    mean_exec_ms: float
    min_exec_ms: float
    max_exec_ms: float
    stddev_exec_ms: float
    shared_blks_hit: int
    shared_blks_read: int
    role_name: str | None


class QueryStatsOut(BaseModel):
    order: Literal["total", "mean"]
    limit: int
    queries: list[QueryStatOut]
