"""``/api/v1/actions``: the safe-write log of the active workspace — list, inspect, apply a
previewed write with its approval token, revert an executed one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from pyairtable_platform.core.actions.schemas import (
    ActionDetail,
    ActionList,
    ActionOut,
    ApplyBody,
    Channel,
    Status,
)
from pyairtable_platform.core.actions.service import ActionsService
from pyairtable_platform.core.airtable.deps import AirtableDeps, get_airtable_deps
from pyairtable_platform.core.auth.deps import CurrentIdentity, TenantSession

router = APIRouter(prefix="/api/v1/actions", tags=["actions"])


def actions_service(
    identity: CurrentIdentity,
    session: TenantSession,
    deps: Annotated[AirtableDeps, Depends(get_airtable_deps)],
) -> ActionsService:
    # Imported here: the Airtable service and this router are built side by side.
    from pyairtable_platform.core.airtable.service import AirtableService

    airtable = AirtableService(session, identity, deps, channel="api")
    return ActionsService(session, identity, airtable, channel="api")


Actions = Annotated[ActionsService, Depends(actions_service)]


@router.get("", response_model=ActionList, summary="List actions")
async def list_actions(
    actions: Actions,
    *,
    status: Annotated[Status | None, Query(description="only actions in this status")] = None,
    base_id: Annotated[str | None, Query()] = None,
    table: Annotated[str | None, Query(description="table id or name")] = None,
    channel: Annotated[Channel | None, Query()] = None,
    record_id: Annotated[str | None, Query(description="actions that touched this record")] = None,
    before: Annotated[
        datetime | None, Query(description="created before (the next_before cursor)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """The workspace's writes, newest first: who, through which channel, what, and their status
    (previewed, approved, running, done, partially_failed, failed, uncertain, rejected,
    expired, reverted)."""
    rows = await actions.list(
        status=status,
        base_id=base_id,
        table=table,
        channel=channel,
        record_id=record_id,
        before=before,
        limit=limit,
    )
    return ActionList(
        actions=[ActionOut.of(row) for row in rows],
        next_before=rows[-1].created_at if len(rows) == limit else None,
    )


@router.get("/{action_id}", response_model=ActionDetail, summary="Get an action")
async def get_action(action_id: uuid.UUID, actions: Actions) -> Any:
    """One action with its request, the records before and after, and its audit trail."""
    action = await actions.get(action_id)
    return ActionDetail.detail(action, await actions.audit(action_id))


@router.post("/{action_id}/apply", response_model=ActionOut, summary="Apply a previewed action")
async def apply_action(action_id: uuid.UUID, body: ApplyBody, actions: Actions) -> Any:
    """Approve and run a previewed write with the approval token its preview returned. A write
    Airtable refused comes back with status ``failed`` and its ``error``."""
    return ActionOut.of(await actions.apply(action_id, body.approval_token))


@router.post("/{action_id}/revert", response_model=ActionOut, summary="Revert an action")
async def revert_action(action_id: uuid.UUID, actions: Actions) -> Any:
    """Undo an executed write: updated fields get their previous values, deleted records are
    re-created (new ids; ``result.mapping`` maps old to new), created records are deleted.
    409 ``revert_refused`` when the records changed since. Answers the revert action."""
    _, undo = await actions.revert(action_id)
    return ActionOut.of(undo)


@router.post(
    "/{action_id}/reconcile", response_model=ActionOut, summary="Reconcile an uncertain action"
)
async def reconcile_action(action_id: uuid.UUID, actions: Actions) -> Any:
    """Settle an ``uncertain`` write (a create Airtable never confirmed) now instead of waiting
    for its job: sync the base's mirror, then look for the attempted records created since the
    attempt. The action becomes ``done``, ``partially_failed`` or ``failed``; ``result.
    reconciled`` lists the records found (with their ids) and those not created. Any other
    status is answered unchanged."""
    return ActionOut.of(await actions.reconcile(action_id))
