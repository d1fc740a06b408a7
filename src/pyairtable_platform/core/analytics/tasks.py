"""Time-series maintenance: partitions ahead (native path) and retention (both paths).

TimescaleDB's Apache edition (Debian's package) has no retention policies, so retention is
this scheduled job on both paths.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
