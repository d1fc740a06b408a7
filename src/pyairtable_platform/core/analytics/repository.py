"""Usage, cost and latency analytics over ``api_usage_logs``, on both time-series paths.

Every query goes through :func:`pyairtable_platform.kit.timeseries.bucket`, so the same call
returns the same rows whether the table is a TimescaleDB hypertable or a partitioned table.
Row-level security limits the rows to the caller's workspace; the explicit
``workspace_id = app_current_workspace_id()`` predicate only lets the planner use the indexes
that lead with ``workspace_id`` (RLS would filter the same rows anyway).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.kit.timeseries import bucket, is_timescale

Granularity = Literal["hour", "day"]
Dimension = Literal["workspace", "user", "model", "tool"]

# Grouped on the raw column (a uuid sorts and hashes faster than its text), cast afterwards.
DIMENSION_COLUMNS: Final[dict[Dimension, str]] = {
    "workspace": "workspace_id",
    "user": "user_id",
    "model": "model",
    "tool": "tool_name",
}
GRANULARITY_INTERVALS: Final[dict[Granularity, str]] = {"hour": "1 hour", "day": "1 day"}
_TABLE = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class UsagePoint:
    bucket: datetime
    key: str | None
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: Decimal


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    bucket: datetime
    key: str | None
    requests: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def usage_sql(
    *,
    granularity: Granularity,
    by: Dimension,
    timescale: bool,
    table: str = "api_usage_logs",
    tenant_filter: bool = True,
) -> str:
    """The usage/cost query; ``table`` and ``tenant_filter`` exist for the benchmark only."""
    if not _TABLE.match(table):
        raise ValueError(f"not a table name: {table!r}")
    when = bucket(GRANULARITY_INTERVALS[granularity], "created_at", timescale=timescale)
    tenant = "workspace_id = app_current_workspace_id() AND " if tenant_filter else ""
    return (
        "SELECT bucket, key::text AS key, requests, errors, input_tokens, output_tokens,"
        " total_tokens, cost_usd FROM ("
        f"SELECT {when} AS bucket, {DIMENSION_COLUMNS[by]} AS key,"
        " count(*) AS requests,"
        " count(*) FILTER (WHERE NOT success) AS errors,"
        " coalesce(sum(input_tokens), 0) AS input_tokens,"
        " coalesce(sum(output_tokens), 0) AS output_tokens,"
        " coalesce(sum(total_tokens), 0) AS total_tokens,"
        " coalesce(sum(cost_usd), 0) AS cost_usd"
        f" FROM {table}"
        f" WHERE {tenant}created_at >= :start AND created_at < :end"
        " GROUP BY 1, 2) AS grouped ORDER BY bucket, grouped.key NULLS FIRST"
    )


def latency_sql(*, granularity: Granularity, by: Dimension | None, timescale: bool) -> str:
    when = bucket(GRANULARITY_INTERVALS[granularity], "created_at", timescale=timescale)
    key = f"{DIMENSION_COLUMNS[by]}::text" if by else "NULL::text"
    return (
        f"SELECT {when} AS bucket, {key} AS key, count(latency_ms) AS requests,"
        " percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms) AS p"
        " FROM api_usage_logs"
        " WHERE workspace_id = app_current_workspace_id()"
        " AND created_at >= :start AND created_at < :end AND latency_ms IS NOT NULL"
        " GROUP BY 1, 2 ORDER BY 1, 2 NULLS FIRST"
    )


class AnalyticsRepository:
    """Reads of the usage time series for the current workspace (RLS context)."""

    def __init__(self, session: AsyncSession, *, timescale: bool) -> None:
        self.session = session
        self.timescale = timescale

    @classmethod
    async def create(cls, session: AsyncSession) -> AnalyticsRepository:
        return cls(session, timescale=await is_timescale(session))

    async def usage(
        self, *, start: datetime, end: datetime, granularity: Granularity, by: Dimension
    ) -> list[UsagePoint]:
        """Requests, errors, tokens and cost per time bucket and dimension value."""
        sql = usage_sql(granularity=granularity, by=by, timescale=self.timescale)
        rows = await self.session.execute(text(sql), {"start": start, "end": end})
        return [
            UsagePoint(
                bucket=row.bucket,
                key=row.key,
                requests=int(row.requests),
                errors=int(row.errors),
                input_tokens=int(row.input_tokens),
                output_tokens=int(row.output_tokens),
                total_tokens=int(row.total_tokens),
                cost_usd=Decimal(row.cost_usd),
            )
            for row in rows
        ]

    async def latency(
        self,
        *,
        start: datetime,
        end: datetime,
        granularity: Granularity,
        by: Dimension | None = None,
    ) -> list[LatencyPoint]:
        """p50/p95/p99 of ``latency_ms`` per time bucket (and dimension value, if given)."""
        sql = latency_sql(granularity=granularity, by=by, timescale=self.timescale)
        rows = await self.session.execute(text(sql), {"start": start, "end": end})
        points = []
        for row in rows:
            p50, p95, p99 = (float(v) if v is not None else None for v in row.p)
            points.append(
                LatencyPoint(
                    bucket=row.bucket,
                    key=row.key,
                    requests=int(row.requests),
                    p50_ms=p50,
                    p95_ms=p95,
                    p99_ms=p99,
                )
            )
        return points
