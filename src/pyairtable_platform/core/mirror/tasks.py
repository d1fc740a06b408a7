"""Durable mirror jobs (procrastinate): one base's sync, and the scheduler that queues them.

Jobs run in the worker (inside core by default, or ``pyairtable-platform worker``), which
passes the shared Airtable dependencies as ``additional_context["airtable"]``. A sync job
holds a procrastinate lock per base (one at a time) and a queueing lock (never two waiting).
"""

from __future__ import annotations

import logging
import uuid

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.airtable.connections import upstream_connection
from pyairtable_platform.core.airtable.deps import AirtableDeps, worker_deps
from pyairtable_platform.core.airtable.repository import ConnectionRepository
from pyairtable_platform.core.mirror.repository import due_bases
from pyairtable_platform.core.mirror.service import MirrorService, SyncBusy
from pyairtable_platform.kit.db import unit_of_work
from pyairtable_platform.kit.jobs import defer_in_transaction

logger = logging.getLogger(__name__)

NAMESPACE = "mirror"
SYNC_TASK = f"{NAMESPACE}:mirror.sync_base"


async def run_sync(deps: AirtableDeps, workspace_id: uuid.UUID, base_id: str, full: bool) -> None:
    """Sync one base of one workspace with the connection it was seen through."""
    async with unit_of_work(deps.factory, workspace_id=workspace_id) as session:
        repo = ConnectionRepository(session)
        cid = await repo.base_connection(base_id)
        row = await repo.get(cid) if cid else None
    if row is None or row.status != "active":
        logger.info("mirror sync skipped", extra={"base_id": base_id, "reason": "no connection"})
        return
    client = await deps.clients.get(upstream_connection(row, deps))
    service = MirrorService(deps.factory, deps.redis, deps.mirror, workspace_id)
    try:
        await service.sync(client, base_id, full=full)
    except SyncBusy:
        logger.info("mirror sync skipped", extra={"base_id": base_id, "reason": "running"})


def make_blueprint() -> procrastinate.Blueprint:
    """A new blueprint of the mirror's tasks (one per job App: procrastinate binds a
    blueprint to the App it is added to)."""
    blueprint = procrastinate.Blueprint()

    @blueprint.task(
        name="mirror.sync_base",
        pass_context=True,
        retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=5),
    )
    async def sync_base(
        context: procrastinate.JobContext, workspace_id: str, base_id: str, full: bool = False
    ) -> None:
        await run_sync(worker_deps(context), uuid.UUID(workspace_id), base_id, full)

    @blueprint.periodic(cron="* * * * *")
    @blueprint.task(name="mirror.schedule", queueing_lock="mirror.schedule", pass_context=True)
    async def schedule(context: procrastinate.JobContext, timestamp: int) -> None:
        """Every minute: queue a sync for each base not synced within the interval."""
        deps = worker_deps(context)
        async with unit_of_work(deps.factory) as session:
            due = await due_bases(
                session,
                stale_seconds=deps.mirror.sync_interval_seconds,
                reconcile_seconds=deps.mirror.reconcile_interval_seconds,
                limit=deps.mirror.schedule_batch,
            )
        for workspace_id, base_id, full in due:
            await defer_sync(deps, workspace_id, base_id, full=full)

    return blueprint


async def defer_sync(
    deps: AirtableDeps,
    workspace_id: uuid.UUID,
    base_id: str,
    *,
    full: bool = False,
    session: AsyncSession | None = None,
) -> int | None:
    """Queue a sync of a base; ``None`` when one is already waiting.

    With ``session`` the job is queued in that transaction (it exists only if the change that
    asked for it commits); without, in a transaction of its own."""
    if session is None:
        async with unit_of_work(deps.factory, workspace_id=workspace_id) as own:
            return await defer_sync(deps, workspace_id, base_id, full=full, session=own)
    lock = f"mirror:{workspace_id}:{base_id}"
    return await defer_in_transaction(
        session,
        SYNC_TASK,
        {"workspace_id": str(workspace_id), "base_id": base_id, "full": full},
        lock=lock,
        queueing_lock=lock,
    )
