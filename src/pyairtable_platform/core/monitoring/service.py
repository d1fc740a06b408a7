"""Query monitoring: who may read pg_stat_statements, and the read itself."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.monitoring.repository import MonitoringRepository, Order
from pyairtable_platform.core.monitoring.schemas import QueryStatOut, QueryStatsOut
from pyairtable_platform.kit.auth import Identity
from pyairtable_platform.kit.errors import Forbidden

# Statement texts are normalised (constants become $1...), so they reveal no tenant data, but
# they do describe the whole deployment: only its administrators may read them.
ADMIN_ROLES = frozenset({"owner", "admin"})


def ensure_may_read_query_stats(identity: Identity) -> None:
    """Platform admins, and owners/admins of a workspace (signed in, not with an API key)."""
    if identity.is_platform_admin:
        return
    if identity.role not in ADMIN_ROLES:
        raise Forbidden(
            f"query statistics are for workspace owners and admins; your role is "
            f"{identity.role or 'none'}"
        )
    if identity.scope != "full":
        raise Forbidden("query statistics need a signed-in session, not an API key")


async def top_queries(
    session: AsyncSession, identity: Identity, *, order: Order, limit: int
) -> QueryStatsOut:
    """The top statements by total or mean execution time."""
    ensure_may_read_query_stats(identity)
    stats = await MonitoringRepository(session).top_queries(order=order, limit=limit)
    return QueryStatsOut(
        order=order,
        limit=limit,
        queries=[QueryStatOut(**asdict(stat)) for stat in stats],
    )
