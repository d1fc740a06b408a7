"""pg_stat_statements, read through the SECURITY DEFINER function ``query_stats``.

The function (migration 0002) is owned by the owner role, which holds ``pg_read_all_stats``,
so ``application_user`` sees full statement texts without any superuser right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from psycopg import errors as pg_errors
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.monitoring.exceptions import QueryStatsUnavailable

Order = Literal["total", "mean"]


@dataclass(frozen=True, slots=True)
class QueryStat:
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


class MonitoringRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def top_queries(self, *, order: Order, limit: int) -> list[QueryStat]:
        """The statements of this database with the highest total or mean execution time."""
        try:
            rows = await self.session.execute(
                text("SELECT * FROM query_stats(:order, :limit)"),
                {"order": order, "limit": limit},
            )
        except DBAPIError as exc:
            if isinstance(exc.orig, pg_errors.ObjectNotInPrerequisiteState):
                raise QueryStatsUnavailable(
                    "pg_stat_statements is not installed in this database; add it to "
                    "shared_preload_libraries and run the bootstrap (docs/data.md)"
                ) from exc
            raise
        return [QueryStat(**row._mapping) for row in rows]
