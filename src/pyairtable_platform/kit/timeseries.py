"""The one place that knows whether time series are TimescaleDB hypertables or native partitions.

Migration 0002 makes ``api_usage_logs`` (1-day chunks) and ``conversation_messages`` (1-week
chunks) hypertables when the ``timescaledb`` extension is installed in the database, and
RANGE-partitioned tables otherwise (docs/decisions/0003-time-series.md). Callers use this
module and never spell ``time_bucket``/``date_bin`` or ``drop_chunks``/``DROP TABLE`` themselves:

- :func:`bucket` builds the bucketing SQL expression for the path in use;
- :func:`apply_retention` drops whole chunks/partitions older than a period;
- :func:`ensure_partitions` creates partitions ahead (a no-op on TimescaleDB);
- :func:`is_timescale` tells which path a database is on.

Retention and partition creation run through SECURITY DEFINER SQL functions owned by the
table owner, so the scheduled jobs can run as ``application_user``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

TimeSeriesTable = Literal["api_usage_logs", "conversation_messages"]
TIME_SERIES_TABLES: Final[tuple[TimeSeriesTable, ...]] = (
    "api_usage_logs",
    "conversation_messages",
)
# Both paths bucket from the same origin (a Monday, midnight UTC): TimescaleDB's default for
# time_bucket, given explicitly to date_bin, so that weekly buckets agree.
BUCKET_ORIGIN: Final = "2000-01-03 00:00:00+00"

_INTERVAL = re.compile(r"^\s*(\d{1,4})\s+(minute|hour|day|week)s?\s*$", re.IGNORECASE)
_COLUMN = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")

Executor = AsyncConnection | AsyncSession


class TimeSeriesError(ValueError):
    """An interval, column or table this module refuses to put into SQL."""


def normalise_interval(interval: str | timedelta) -> str:
    """A safe SQL interval literal body (``'1 hour'``) from a string or timedelta.

    Only minute/hour/day/week widths are accepted: ``date_bin`` cannot bin by months, so a
    month bucket would behave differently on the two paths.
    """
    if isinstance(interval, timedelta):
        seconds = int(interval.total_seconds())
        if seconds <= 0 or seconds % 60:
            raise TimeSeriesError(f"bucket width must be whole minutes, got {interval}")
        return f"{seconds // 60} minutes"
    match = _INTERVAL.match(interval)
    if not match:
        raise TimeSeriesError(
            f"unsupported bucket width {interval!r}; use e.g. '15 minutes', '1 hour', '1 day'"
        )
    count, unit = int(match.group(1)), match.group(2).lower()
    if count == 0:
        raise TimeSeriesError("bucket width must be positive")
    return f"{count} {unit}s"


def bucket(interval: str | timedelta, column: str, *, timescale: bool) -> str:
    """SQL for the start of ``column``'s bucket: ``time_bucket`` or ``date_bin``.

    ``column`` must be a plain (optionally table-qualified) identifier; the result is safe to
    embed in a statement.
    """
    if not _COLUMN.match(column):
        raise TimeSeriesError(f"not a column name: {column!r}")
    width = normalise_interval(interval)
    if timescale:
        return f"time_bucket(INTERVAL '{width}', {column})"
    return f"date_bin(INTERVAL '{width}', {column}, TIMESTAMPTZ '{BUCKET_ORIGIN}')"


def _check_table(table: str) -> TimeSeriesTable:
    for known in TIME_SERIES_TABLES:
        if table == known:
            return known
    raise TimeSeriesError(f"not a time-series table: {table!r}; known: {TIME_SERIES_TABLES}")


async def is_timescale(conn: Executor) -> bool:
    """True when this database has the timescaledb extension (so the tables are hypertables)."""
    result = await conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
    )
    return bool(result.scalar())


async def ensure_partitions(
    conn: Executor,
    table: str,
    *,
    ahead: timedelta = timedelta(days=30),
    since: datetime | None = None,
) -> int:
    """Create the missing partitions from ``since`` (default now) to now + ``ahead``.

    Returns how many were created; always 0 on TimescaleDB, which creates chunks on insert.
    """
    name = _check_table(table)
    result = await conn.execute(
        text("SELECT ts_ensure_partitions(:table, :ahead, :since)"),
        {"table": name, "ahead": ahead, "since": since},
    )
    return int(result.scalar() or 0)


async def apply_retention(conn: Executor, table: str, older_than: timedelta) -> int:
    """Drop the chunks/partitions that end before now - ``older_than``; return how many."""
    name = _check_table(table)
    result = await conn.execute(
        text("SELECT ts_apply_retention(:table, :older_than)"),
        {"table": name, "older_than": older_than},
    )
    return int(result.scalar() or 0)
