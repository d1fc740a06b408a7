"""REST record writes as actions (channel "api"): the Airtable router's write endpoints call
:func:`write_as_action` so every write through the API is logged, audited and revertable,
while their answers keep the ``WriteOutcome`` shape (plus an ``X-Action-Id`` header)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Response

from pyairtable_platform.core.actions.schemas import WriteRequest
from pyairtable_platform.core.actions.service import ActionsService

if TYPE_CHECKING:
    from pyairtable_platform.core.airtable.schemas import WriteOutcome
    from pyairtable_platform.core.airtable.service import AirtableService


async def write_as_action(
    service: AirtableService, response: Response | None, **request: Any
) -> WriteOutcome:
    """Run a record write as an action; the write's outcome, or its upstream error raised."""
    from pyairtable_platform.core.airtable.schemas import FailedRecord, WriteOutcome

    actions = ActionsService(service.session, service.identity, service, channel="api")
    # strict=False: the REST API's contract is Airtable's per-record errors (207).
    submitted = await actions.submit(WriteRequest(**request), strict=False)
    if submitted.exception is not None:
        raise submitted.exception
    action = submitted.action
    if response is not None:
        response.headers["X-Action-Id"] = str(action.id)
        if submitted.approval_token is not None:
            # The key or workspace requires a preview: nothing was written yet.
            response.status_code = 202
            response.headers["X-Approval-Token"] = submitted.approval_token
    after = (action.after or {}).get("records") or {}
    if request["operation"] == "delete":
        succeeded = [
            {"id": rid, "deleted": True}
            for rid in action.record_ids
            if rid not in _failed_ids(action)
        ]
    else:
        succeeded = [{"id": rid, "fields": fields} for rid, fields in after.items()]
    info = action.result or {}
    return WriteOutcome(
        succeeded=succeeded,
        failed=[FailedRecord(**f) for f in info.get("failed", [])],
        created_ids=list(info.get("created_ids", [])),
        updated_ids=list(info.get("updated_ids", [])),
    )


def _failed_ids(action: Any) -> set[str]:
    return {f["id"] for f in (action.result or {}).get("failed", []) if f.get("id")}
