"""Usage, cost and latency analytics over ``api_usage_logs``, on both time-series paths.

Every query goes through :func:`pyairtable_platform.kit.timeseries.bucket`, so the same call
returns the same rows whether the table is a TimescaleDB hypertable or a partitioned table.
Row-level security limits the rows to the caller's workspace; the explicit
``workspace_id = app_current_workspace_id()`` predicate only lets the planner use the indexes
that lead with ``workspace_id`` (RLS would filter the same rows anyway).

Usage reads the hourly rollup ``api_usage_hourly`` for the closed, clean hours of the window
and the raw rows for the rest (the partial hours at either edge, the hours after the rollup's
watermark, and dirty hours that received late rows), then adds both up: the answer is the
same as from the raw rows alone (docs/data.md, "Usage rollup"). Latency percentiles cannot
be added up from hourly parts, so they always read the raw rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.kit.timeseries import bucket, is_timescale

Granularity = Literal["hour", "day"]
Dimension = Literal["workspace", "user", "model", "tool"]
Source = Literal["auto", "raw"]

# Grouped on the raw column (a uuid sorts and hashes faster than its text), cast afterwards.
DIMENSION_COLUMNS: Final[dict[Dimension, str]] = {
    "workspace": "workspace_id",
    "user": "user_id",
    "model": "model",
    "tool": "tool_name",
}
GRANULARITY_INTERVALS: Final[dict[Granularity, str]] = {"hour": "1 hour", "day": "1 day"}
_TABLE = re.compile(r"^[a-z_][a-z0-9_]*$")
HOUR: Final = timedelta(hours=1)
# Per transaction (SET LOCAL): with the default 4-8 MB a 90-day grouping spills its sort or
# hash to disk; analytics transactions are short and few, so they may take more.
ANALYTICS_WORK_MEM: Final = "64MB"

Range = tuple[datetime, datetime]


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


@dataclass(frozen=True, slots=True)
class RollupStatus:
    """What the rollup holds: every hour before ``rolled_up_until`` except ``dirty_hours``."""

    rolled_up_until: datetime | None
    dirty_hours: Sequence[datetime] = ()


@dataclass(frozen=True, slots=True)
class SourcePlan:
    """Which half-open time ranges of a window come from the rollup and which from raw rows."""

    rollup: list[Range] = field(default_factory=list)
    raw: list[Range] = field(default_factory=list)


def _floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(at: datetime) -> datetime:
    floor = _floor_hour(at)
    return floor if floor == at else floor + HOUR


def _merge(ranges: list[Range]) -> list[Range]:
    merged: list[Range] = []
    for lo, hi in sorted(r for r in ranges if r[0] < r[1]):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def plan_sources(start: datetime, end: datetime, status: RollupStatus) -> SourcePlan:
    """Split [start, end) into whole clean rolled-up hours and the rest, read raw."""
    if start >= end:
        return SourcePlan()
    wm = status.rolled_up_until
    lo, hi = _ceil_hour(start), _floor_hour(end)
    if wm is not None:
        hi = min(hi, wm)
    if wm is None or lo >= hi:
        return SourcePlan(raw=[(start, end)])
    dirty = sorted({_floor_hour(h) for h in status.dirty_hours if lo <= h < hi})
    rollup: list[Range] = []
    cursor = lo
    for hour in dirty:
        rollup.append((cursor, hour))
        cursor = hour + HOUR
    rollup.append((cursor, hi))
    raw = [(start, lo), (hi, end), *((h, h + HOUR) for h in dirty)]
    return SourcePlan(rollup=_merge(rollup), raw=_merge(raw))


def _ranges_sql(column: str, prefix: str, ranges: list[Range]) -> tuple[str, dict[str, datetime]]:
    params: dict[str, datetime] = {}
    parts = []
    for i, (lo, hi) in enumerate(ranges):
        params[f"{prefix}{i}s"], params[f"{prefix}{i}e"] = lo, hi
        parts.append(f"({column} >= :{prefix}{i}s AND {column} < :{prefix}{i}e)")
    return "(" + " OR ".join(parts) + ")", params


def combined_usage_sql(
    plan: SourcePlan,
    *,
    granularity: Granularity,
    by: Dimension,
    timescale: bool,
    tenant_filter: bool = True,
) -> tuple[str, dict[str, datetime]] | None:
    """The usage query over the rollup ranges and the raw ranges of ``plan``, with params.

    None when the plan covers nothing. ``tenant_filter`` exists for the benchmark only.
    """
    width = GRANULARITY_INTERVALS[granularity]
    key = DIMENSION_COLUMNS[by]
    tenant = "workspace_id = app_current_workspace_id() AND " if tenant_filter else ""
    parts: list[str] = []
    params: dict[str, datetime] = {}
    if plan.rollup:
        where, p = _ranges_sql("bucket", "h", plan.rollup)
        params |= p
        parts.append(
            f"SELECT {bucket(width, 'bucket', timescale=timescale)} AS bucket, {key} AS key,"
            " sum(requests) AS requests, sum(errors) AS errors,"
            " sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,"
            " sum(total_tokens) AS total_tokens, sum(cost_usd) AS cost_usd"
            f" FROM api_usage_hourly WHERE {tenant}{where} GROUP BY 1, 2"
        )
    if plan.raw:
        where, p = _ranges_sql("created_at", "r", plan.raw)
        params |= p
        parts.append(
            f"SELECT {bucket(width, 'created_at', timescale=timescale)} AS bucket,"
            f" {key} AS key, count(*) AS requests,"
            " count(*) FILTER (WHERE NOT success) AS errors,"
            " sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,"
            " sum(total_tokens) AS total_tokens, sum(cost_usd) AS cost_usd"
            f" FROM api_usage_logs WHERE {tenant}{where} GROUP BY 1, 2"
        )
    if not parts:
        return None
    return (
        "SELECT bucket, key::text AS key, sum(requests)::bigint AS requests,"
        " sum(errors)::bigint AS errors,"
        " coalesce(sum(input_tokens), 0)::bigint AS input_tokens,"
        " coalesce(sum(output_tokens), 0)::bigint AS output_tokens,"
        " coalesce(sum(total_tokens), 0)::bigint AS total_tokens,"
        " coalesce(sum(cost_usd), 0) AS cost_usd"
        f" FROM ({' UNION ALL '.join(parts)}) AS parts"
        " GROUP BY 1, parts.key ORDER BY bucket, parts.key NULLS FIRST",
        params,
    )


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

    async def _raise_work_mem(self) -> None:
        await self.session.execute(
            text("SELECT set_config('work_mem', :value, true)"), {"value": ANALYTICS_WORK_MEM}
        )

    async def rollup_status(self, start: datetime, end: datetime) -> RollupStatus:
        """The rollup's watermark and the dirty hours below it that touch [start, end)."""
        row = (
            await self.session.execute(
                text("SELECT rolled_up_until, dirty_hours FROM usage_rollup_status(:s, :e)"),
                {"s": start, "e": end},
            )
        ).one()
        return RollupStatus(row.rolled_up_until, tuple(row.dirty_hours or ()))

    async def usage(
        self,
        *,
        start: datetime,
        end: datetime,
        granularity: Granularity,
        by: Dimension,
        source: Source = "auto",
    ) -> list[UsagePoint]:
        """Requests, errors, tokens and cost per time bucket and dimension value.

        ``source="raw"`` reads only the raw rows (the reference the rollup path must equal).
        """
        await self._raise_work_mem()
        if source == "raw":
            sql = usage_sql(granularity=granularity, by=by, timescale=self.timescale)
            rows = await self.session.execute(text(sql), {"start": start, "end": end})
        else:
            plan = plan_sources(start, end, await self.rollup_status(start, end))
            query = combined_usage_sql(
                plan, granularity=granularity, by=by, timescale=self.timescale
            )
            if query is None:
                return []
            rows = await self.session.execute(text(query[0]), query[1])
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
        await self._raise_work_mem()
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


@dataclass(frozen=True, slots=True)
class RollupRefresh:
    hours_rolled: int
    dirty_hours: int
    rolled_up_until: datetime | None


class RollupRepository:
    """Maintenance of the hourly usage rollup (the SQL function runs as the table owner)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def refresh(self, *, max_span: timedelta, max_dirty: int) -> RollupRefresh:
        """Roll up closed hours (at most ``max_span`` of them) and re-aggregate at most
        ``max_dirty`` dirty hours."""
        row = (
            await self.session.execute(
                text("SELECT * FROM usage_rollup_refresh(:span, :dirty)"),
                {"span": max_span, "dirty": max_dirty},
            )
        ).one()
        return RollupRefresh(int(row.hours_rolled), int(row.dirty_hours), row.rolled_up_until)
