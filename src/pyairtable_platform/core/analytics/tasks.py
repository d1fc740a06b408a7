"""Time-series maintenance: partitions ahead (native path), retention (both paths) and the
hourly usage rollup.

TimescaleDB's Apache edition (Debian's package) has no retention policies and no continuous
aggregates, so retention and the rollup refresh are these scheduled jobs on both paths.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.core.analytics.repository import RollupRefresh, RollupRepository
from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.kit.db import create_engine, create_session_factory, unit_of_work
from pyairtable_platform.kit.timeseries import TimeSeriesTable, apply_retention, ensure_partitions

logger = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()


@dataclass(frozen=True, slots=True)
class MaintenanceResult:
    table: TimeSeriesTable
    partitions_created: int
    chunks_dropped: int


async def maintain_time_series(
    factory: async_sessionmaker[AsyncSession],
    *,
    ahead: timedelta,
    retention: dict[TimeSeriesTable, timedelta | None],
) -> list[MaintenanceResult]:
    """Create partitions ``ahead`` and drop chunks past each table's retention (None: keep)."""
    results = []
    for table, keep in retention.items():
        async with unit_of_work(factory) as session:
            created = await ensure_partitions(session, table, ahead=ahead)
            dropped = await apply_retention(session, table, keep) if keep else 0
        results.append(MaintenanceResult(table, created, dropped))
        logger.info(
            "time-series maintenance",
            extra={"table": table, "partitions_created": created, "chunks_dropped": dropped},
        )
    return results


def _days(value: int) -> timedelta | None:
    return timedelta(days=value) if value > 0 else None


# Every 10 minutes: on TimescaleDB this also bounds how long a new chunk keeps the
# hypertable's grants before ts_lock_chunks takes them back (docs/data.md).
@blueprint.periodic(cron="*/10 * * * *")
@blueprint.task(name="analytics.maintain_time_series", queueing_lock="analytics.maintain")
async def maintain_time_series_task(timestamp: int) -> None:
    settings = CoreSettings()
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=1)
    try:
        await maintain_time_series(
            create_session_factory(engine),
            ahead=timedelta(days=settings.partitions_ahead_days),
            retention={
                "api_usage_logs": _days(settings.usage_retention_days),
                "conversation_messages": _days(settings.message_retention_days),
            },
        )
    finally:
        await engine.dispose()


async def refresh_usage_rollup(
    factory: async_sessionmaker[AsyncSession],
    *,
    max_span: timedelta = timedelta(days=7),
    max_dirty: int = 168,
) -> RollupRefresh:
    """Bring ``api_usage_hourly`` up to the last closed hour and fix (some of) the dirty hours.

    Both bounds keep one run short: it holds inserts into ``api_usage_logs`` while it works.
    """
    async with unit_of_work(factory) as session:
        result = await RollupRepository(session).refresh(max_span=max_span, max_dirty=max_dirty)
    logger.info(
        "usage rollup refresh",
        extra={
            "hours_rolled": result.hours_rolled,
            "dirty_hours": result.dirty_hours,
            "rolled_up_until": result.rolled_up_until.isoformat()
            if result.rolled_up_until
            else None,
        },
    )
    return result


# Every 5 minutes: a closed hour reaches the rollup within 5 minutes, and dirty hours are
# re-aggregated as soon. Readers are exact either way; the rollup only makes them fast.
@blueprint.periodic(cron="*/5 * * * *")
@blueprint.task(name="analytics.refresh_usage_rollup", queueing_lock="analytics.rollup")
async def refresh_usage_rollup_task(timestamp: int) -> None:
    settings = CoreSettings()
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=1)
    try:
        await refresh_usage_rollup(create_session_factory(engine))
    finally:
        await engine.dispose()
