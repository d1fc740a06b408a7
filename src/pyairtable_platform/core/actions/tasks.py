"""Durable reconciliation of uncertain writes (procrastinate, namespace ``actions``).

An uncertain create queues ``actions.reconcile_uncertain`` in the transaction that records
it, a little later (``CORE_ACTIONS_RECONCILE_DELAY_SECONDS``: a request still on its way has
landed by then). The job syncs the base's mirror incrementally and settles the action
(:mod:`.reconcile`); it retries while a sync of the base is running. Register the tasks in a
job App with ``app.add_tasks_from(make_blueprint(), namespace=NAMESPACE)``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.actions import repository
from pyairtable_platform.core.actions.config import ActionsSettings
from pyairtable_platform.core.actions.reconcile import reconcile
from pyairtable_platform.core.airtable.deps import AirtableDeps, worker_deps
from pyairtable_platform.kit.auth import Identity
from pyairtable_platform.kit.db import unit_of_work
from pyairtable_platform.kit.jobs import defer_in_transaction

logger = logging.getLogger(__name__)

NAMESPACE = "actions"
RECONCILE_TASK = f"{NAMESPACE}:actions.reconcile_uncertain"


async def run_reconcile(deps: AirtableDeps, workspace_id: uuid.UUID, action_id: uuid.UUID) -> str:
    """Settle one uncertain action as its author (whose workspace and connection it used);
    the action's status afterwards."""
    from pyairtable_platform.core.airtable.service import AirtableService

    async with unit_of_work(deps.factory, workspace_id=workspace_id) as session:
        action = await repository.get(session, action_id, lock=True)
        if action is None or action.status != "uncertain":
            return action.status if action else "missing"
        # No user (deleted since): the nil id, which the usage rows leave out.
        identity = Identity(
            user_id=action.user_id or uuid.UUID(int=0),
            workspace_id=workspace_id,
            role=None,
            scope="write",
            kind="access_token",
        )
        airtable = AirtableService(session, identity, deps, channel="api")
        settled = await reconcile(session, airtable, action, ActionsSettings())
        return settled.status


def make_blueprint() -> procrastinate.Blueprint:
    """A new blueprint of the actions' tasks (procrastinate binds one to one App)."""
    blueprint = procrastinate.Blueprint()

    @blueprint.task(
        name="actions.reconcile_uncertain",
        pass_context=True,
        retry=procrastinate.RetryStrategy(max_attempts=8, exponential_wait=5),
    )
    async def reconcile_uncertain(
        context: procrastinate.JobContext, workspace_id: str, action_id: str
    ) -> None:
        status = await run_reconcile(
            worker_deps(context), uuid.UUID(workspace_id), uuid.UUID(action_id)
        )
        logger.info("uncertain write reconciled", extra={"action_id": action_id, "status": status})

    return blueprint


async def defer_reconcile(
    session: AsyncSession, workspace_id: uuid.UUID, action_id: uuid.UUID, delay_seconds: int
) -> int | None:
    """Queue the reconciliation of an uncertain action in the caller's transaction."""
    return await defer_in_transaction(
        session,
        RECONCILE_TASK,
        {"workspace_id": str(workspace_id), "action_id": str(action_id)},
        queueing_lock=f"actions:reconcile:{action_id}",
        scheduled_at=datetime.now(UTC) + timedelta(seconds=delay_seconds),
    )
