"""REST writes as actions (channel "api"): every write endpoint of the Airtable router —
records, comments, attachments, tables and fields — runs through :func:`run_as_action`, so
every write through the API is logged, audited and (where Airtable allows) revertable, while
the answers keep their shapes (plus an ``X-Action-Id`` header)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Response

from pyairtable_platform.core.actions.models import Action
from pyairtable_platform.core.actions.schemas import WriteRequest
from pyairtable_platform.core.actions.service import ActionsService

if TYPE_CHECKING:
    from pyairtable_platform.core.airtable.schemas import WriteOutcome
    from pyairtable_platform.core.airtable.service import AirtableService


async def run_as_action(service: AirtableService, response: Response, **request: Any) -> Action:
    """Run a write as an action; the action (``previewed`` and a 202 when the key or the
    workspace requires a preview), or the write's upstream error raised."""
    actions = ActionsService(service.session, service.identity, service, channel="api")
    # strict=False: the REST API's contract is Airtable's per-record errors (207).
    submitted = await actions.submit(WriteRequest(**request), strict=False)
    action = submitted.action
    if submitted.exception is not None:
        error = submitted.exception
        error.extra.setdefault("action_id", str(action.id))
        error.headers["X-Action-Id"] = str(action.id)
        # The failed (or uncertain) action must stay in the log while the caller hears the
        # error; raised as is, the request's unit of work would roll it back.
        await service.session.commit()
        raise error
    response.headers["X-Action-Id"] = str(action.id)
    if submitted.approval_token is not None:
        # The key or workspace requires a preview: nothing was written yet.
        response.status_code = 202
        response.headers["X-Approval-Token"] = submitted.approval_token
    return action


def pending(action: Action) -> dict[str, Any]:
    """The answer of a write that waits for approval (``POST /api/v1/actions/{id}/apply``)."""
    return {"action_id": str(action.id), "status": action.status, "summary": action.summary}


async def write_as_action(
    service: AirtableService, response: Response, **request: Any
) -> WriteOutcome:
    """Run a record write as an action; the write's outcome, or its upstream error raised."""
    from pyairtable_platform.core.airtable.schemas import FailedRecord, WriteOutcome

    action = await run_as_action(service, response, **request)
    after = (action.after or {}).get("records") or {}
    info = action.result or {}
    if request["operation"] == "delete":
        failed_ids = {f["id"] for f in info.get("failed", []) if f.get("id")}
        succeeded = [
            {"id": rid, "deleted": True} for rid in action.record_ids if rid not in failed_ids
        ]
    else:
        succeeded = [{"id": rid, "fields": fields} for rid, fields in after.items()]
    if action.status == "previewed":
        succeeded = []
    return WriteOutcome(
        succeeded=succeeded,
        failed=[FailedRecord(**f) for f in info.get("failed", [])],
        created_ids=list(info.get("created_ids", [])),
        updated_ids=list(info.get("updated_ids", [])),
    )
