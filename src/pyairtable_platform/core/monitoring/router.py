"""Admin endpoint over pg_stat_statements."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pyairtable_platform.core.auth.deps import CurrentIdentity, TenantSession
from pyairtable_platform.core.monitoring import service
from pyairtable_platform.core.monitoring.repository import Order
from pyairtable_platform.core.monitoring.schemas import QueryStatsOut

router = APIRouter(prefix="/api/v1/admin", tags=["monitoring"])


@router.get("/query-stats", response_model=QueryStatsOut)
async def query_stats(
    identity: CurrentIdentity,
    session: TenantSession,
    order: Annotated[Order, Query(description="rank by total or mean execution time")] = "total",
    limit: Annotated[int, Query(ge=1, le=500, description="how many statements")] = 20,
) -> QueryStatsOut:
    """Top SQL statements of this deployment's database by total or mean execution time.

    From pg_stat_statements (normalised texts: constants appear as $1, $2...). For platform
    admins and for owners/admins of the active workspace, signed in (API keys are refused).
    """
    return await service.top_queries(session, identity, order=order, limit=limit)
