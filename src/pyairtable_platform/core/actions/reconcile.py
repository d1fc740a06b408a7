"""Settling an uncertain create: did Airtable make the records it never confirmed?

A create whose request went unanswered (timeout, dropped connection, 5xx) is never resent —
a resend of a create that did land duplicates records. The action is recorded ``uncertain``
with the attempted records and the time of the attempt. Reconciliation then runs an
incremental mirror sync of the base (the mirror reads Airtable by ``LAST_MODIFIED_TIME()``,
so a record made by the lost request is picked up) and looks in the mirror, per attempted
record, for a record of that table created since the attempt whose fields hold the attempted
values — each mirrored record counts for one attempted record at most. Found records join
the action (ids, ``after``: a revert deletes them); the others are failures
(``not_created``). The action becomes ``done``, ``partially_failed`` or ``failed``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.actions import repository
from pyairtable_platform.core.actions.config import ActionsSettings
from pyairtable_platform.core.actions.models import Action

if TYPE_CHECKING:
    from pyairtable_platform.core.airtable.service import AirtableService

NOT_CREATED = "not_created"


async def reconcile(
    session: AsyncSession,
    airtable: AirtableService,
    action: Action,
    settings: ActionsSettings,
    *,
    sync: bool = True,
) -> Action:
    """Settle ``action`` if it is uncertain (else leave it); ``sync=False`` skips the
    mirror sync (the caller just ran one)."""
    if action.status != "uncertain":
        return action
    if sync:
        await airtable.sync(action.base_id)
    result: dict[str, Any] = dict(action.result or {})
    info = result.get("uncertain") or {}
    since = datetime.fromisoformat(info["since"]) - timedelta(
        seconds=settings.reconcile_clock_skew_seconds
    )
    after = dict((action.after or {}).get("records") or {})
    claimed = list(dict.fromkeys([*action.record_ids, *after]))
    found: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    for item in info.get("attempted", []):
        matches = await repository.mirrored_matches(
            session,
            base_id=action.base_id,
            table_id=action.table_id,
            fields=item["fields"],
            since=since,
            exclude=claimed,
            limit=1,
        )
        if matches:
            record_id, fields = matches[0]
            claimed.append(record_id)
            after[record_id] = fields
            found.append({"index": item["index"], "id": record_id})
        else:
            missing.append(
                {
                    "index": item["index"],
                    "id": None,
                    "error": NOT_CREATED,
                    "detail": "Airtable did not create this record (it is not in the table "
                    "after the unanswered attempt); write it again",
                }
            )
    failed = sorted([*result.get("failed", []), *missing], key=lambda f: f["index"])
    written = len(after)
    status = "done" if not failed else ("partially_failed" if written else "failed")
    result.update(
        succeeded=written,
        failed=failed,
        reconciled={
            "at": datetime.now(UTC).isoformat(),
            "found": found,
            "not_found": [m["index"] for m in missing],
        },
    )
    error = None
    if failed:
        error = f"{len(failed)} of {written + len(failed)} record(s) were not created"
    return await repository.save(
        session,
        action,
        status=status,
        after={"records": after},
        # In write order (the JSON of ``after`` does not keep its keys' order).
        record_ids=list(dict.fromkeys([*action.record_ids, *(f["id"] for f in found)])),
        result=result,
        error=error,
    )
