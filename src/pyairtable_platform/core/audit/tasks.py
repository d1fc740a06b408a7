"""Audit retention: a daily job deleting audit rows older than the configured period."""

from __future__ import annotations

import logging
from datetime import timedelta

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.core.audit.repository import AuditRepository
from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.kit.db import create_engine, create_session_factory, unit_of_work

logger = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()


async def purge_audit_log(factory: async_sessionmaker[AsyncSession], *, retention_days: int) -> int:
    """Delete audit rows older than ``retention_days``; return how many were deleted."""
    async with unit_of_work(factory) as session:
        removed = await AuditRepository(session).purge_older_than(timedelta(days=retention_days))
    logger.info("audit retention", extra={"removed": removed, "retention_days": retention_days})
    return removed


@blueprint.periodic(cron="41 3 * * *")
@blueprint.task(name="audit.purge", queueing_lock="audit.purge")
async def purge_audit_log_task(timestamp: int) -> None:
    settings = CoreSettings()
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=1)
    try:
        await purge_audit_log(
            create_session_factory(engine), retention_days=settings.audit_retention_days
        )
    finally:
        await engine.dispose()
