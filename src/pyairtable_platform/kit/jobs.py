"""Queue a procrastinate job inside the caller's own database transaction.

procrastinate's ``defer_async`` runs on the job queue's own connection, so a job deferred
next to a change commits even when the change rolls back, and a change can commit while
its job is lost. Here the job row is written through the caller's SQLAlchemy session with
procrastinate's own SQL function (``procrastinate_defer_jobs_v1``, from migration 0005):
the job exists exactly when the change that caused it does, and the worker hears of it
(procrastinate's NOTIFY) only at commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

# procrastinate's unique index: one waiting ("todo") job per queueing lock.
_QUEUEING_LOCK_INDEX = "procrastinate_jobs_queueing_lock_idx_v1"

_DEFER_SQL = text(
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, :priority, :lock,"
    " :queueing_lock, CAST(:args AS jsonb), :scheduled_at)::procrastinate_job_to_defer_v1]))"
)


async def defer_in_transaction(
    session: AsyncSession,
    task_name: str,
    args: dict[str, Any],
    *,
    lock: str | None = None,
    queueing_lock: str | None = None,
    queue: str = "default",
    priority: int = 0,
    scheduled_at: datetime | None = None,
) -> int | None:
    """Queue ``task_name`` in the session's transaction; its id, or ``None`` when a job
    with the same ``queueing_lock`` is already waiting (the caller's transaction goes on:
    the refused insert is confined to a savepoint)."""
    params = {
        "queue": queue,
        "task": task_name,
        "priority": priority,
        "lock": lock,
        "queueing_lock": queueing_lock,
        "args": orjson.dumps(args).decode(),
        "scheduled_at": scheduled_at,
    }
    try:
        async with session.begin_nested():
            job_id = (await session.execute(_DEFER_SQL, params)).scalar_one()
    except IntegrityError as exc:
        if queueing_lock is not None and _QUEUEING_LOCK_INDEX in str(exc.orig):
            return None
        raise
    return int(job_id)
