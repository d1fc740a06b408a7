"""Undoing an executed action: restore updated fields, re-create deleted records (new ids,
links restored where the linked records still exist, the old → new mapping recorded), delete
created ones — and refuse, saying why, when the records changed since."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyairtable_platform.core.actions.exceptions import RevertRefused
from pyairtable_platform.core.actions.executor import (
    Fields,
    Outcome,
    conflicts,
    current_of,
    refuse_if_changed,
    restorable,
    writable_fields,
)
from pyairtable_platform.core.actions.models import Action
from pyairtable_platform.core.actions.schemas import NOT_REVERSIBLE
from pyairtable_platform.kit.errors import PlatformError

if TYPE_CHECKING:
    from pyairtable_platform.core.airtable.service import AirtableService


def _records(snapshot: dict[str, Any] | None) -> dict[str, Fields]:
    return dict((snapshot or {}).get("records") or {})


def _written_names(action: Action, writable: set[str]) -> dict[str, set[str]]:
    """Per record id: the fields the action wrote (all writable fields for a replace)."""
    request = action.request
    names: dict[str, set[str]] = {}
    if action.operation == "add_attachments":
        field_name = str((action.before or {}).get("field"))
        return {rid: {field_name} for rid in action.record_ids}
    if action.operation == "update":
        for item in request.get("records", []):
            names[item["id"]] = (
                writable if request.get("replace") else set(item["fields"]) & writable
            )
        return names
    # upsert: match request items to updated ids through the after snapshot's keys
    keys = set()
    for item in request.get("records", []):
        fields = item.get("fields") if isinstance(item.get("fields"), dict) else item
        keys |= set(fields)
    for rid in _records(action.after):
        names[rid] = writable if request.get("replace") else keys & writable
    return names


async def revert(airtable: AirtableService, action: Action) -> Outcome:
    """Undo ``action``; :class:`RevertRefused` when it cannot be done safely."""
    if action.operation in NOT_REVERSIBLE:
        raise RevertRefused(
            f"cannot revert a {action.operation}: {NOT_REVERSIBLE[action.operation]}"
        )
    try:
        # Changes made outside the platform do not invalidate the shared cache: the check
        # "changed since?" must read Airtable itself.
        await airtable.invalidate_cache(action.base_id)
        if action.operation in ("update_table", "update_field"):
            return await _revert_schema(airtable, action)
        table = await airtable.resolve_table(action.base_id, action.table_id)
        writable = writable_fields(table)
        if action.operation == "delete":
            return await _recreate(airtable, action, writable)
        if action.operation == "create":
            return await _delete_created(airtable, action, list(_records(action.after)), writable)
        if action.operation in ("update", "add_attachments"):
            return await _restore(airtable, action, list(_records(action.after)), writable)
        # upsert: delete what it created, restore what it updated
        created = list(action.result.get("created_ids") or [])
        updated = [rid for rid in _records(action.after) if rid not in set(created)]
        restored = await _restore(airtable, action, updated, writable, check_only=True)
        deleted = await _delete_created(airtable, action, created, writable)
        restored = await _restore(airtable, action, updated, writable)
        return _merge(deleted, restored)
    except RevertRefused:
        raise
    except PlatformError as exc:
        return Outcome("failed", None, [], {"error": exc.error}, error=exc.detail)


def _merge(first: Outcome, second: Outcome) -> Outcome:
    statuses = {first.status, second.status}
    status = (
        "done"
        if statuses == {"done"}
        else ("failed" if statuses == {"failed"} else "partially_failed")
    )
    return Outcome(
        status,
        {"records": {**_records(first.after), **_records(second.after)}},
        first.record_ids + second.record_ids,
        {
            **first.result,
            **second.result,
            "failed": first.result.get("failed", []) + second.result.get("failed", []),
        },
        error=first.error or second.error,
    )


async def _restore(
    airtable: AirtableService,
    action: Action,
    ids: list[str],
    writable: set[str],
    *,
    check_only: bool = False,
) -> Outcome:
    if not ids:
        return Outcome("done", {"records": {}}, [], {"restored": 0, "failed": []})
    before, after = _records(action.before), _records(action.after)
    names = {rid: n for rid, n in _written_names(action, writable).items() if rid in ids}
    current = await current_of(airtable, action.base_id, action.table_id, ids)
    refuse_if_changed(
        conflicts(current, {rid: after[rid] for rid in ids}, names), action.table_name
    )
    if check_only:
        return Outcome("done", None, [], {})
    payload = [
        {
            "id": rid,
            "fields": {
                name: restorable(before.get(rid, {}).get(name)) for name in sorted(names[rid])
            },
        }
        for rid in ids
    ]
    result = await airtable.update_records(action.base_id, action.table_id, payload)
    succeeded = {r["id"]: r.get("fields", {}) for r in result.succeeded}
    failed = [
        {"index": f.index, "id": f.id, "error": f.error, "detail": f.detail} for f in result.failed
    ]
    status = "done" if not failed else ("partially_failed" if succeeded else "failed")
    return Outcome(
        status,
        {"records": succeeded},
        list(succeeded),
        {"restored": len(succeeded), "failed": failed},
    )


async def _delete_created(
    airtable: AirtableService, action: Action, ids: list[str], writable: set[str]
) -> Outcome:
    if not ids:
        return Outcome("done", None, [], {"deleted": 0, "failed": []})
    after = _records(action.after)
    current = await current_of(airtable, action.base_id, action.table_id, ids)
    present = [rid for rid in ids if rid in current]  # already deleted: nothing to undo
    names = {rid: writable & (set(after.get(rid, {})) | set(current[rid])) for rid in present}
    refuse_if_changed(
        conflicts(current, {rid: after.get(rid, {}) for rid in present}, names), action.table_name
    )
    if not present:
        return Outcome("done", None, [], {"deleted": 0, "already_deleted": ids, "failed": []})
    result = await airtable.delete_records(action.base_id, action.table_id, present)
    deleted = [r["id"] for r in result.succeeded]
    failed = [
        {"index": f.index, "id": f.id, "error": f.error, "detail": f.detail} for f in result.failed
    ]
    status = "done" if not failed else ("partially_failed" if deleted else "failed")
    return Outcome(status, None, deleted, {"deleted": len(deleted), "failed": failed})


async def _recreate(airtable: AirtableService, action: Action, writable: set[str]) -> Outcome:
    before = _records(action.before)
    table = await airtable.resolve_table(action.base_id, action.table_id)
    links = {
        f.name: str((f.options or {}).get("linkedTableId") or table.id)
        for f in table.fields
        if f.type == "multipleRecordLinks" and f.name in writable
    }
    old_ids = [rid for rid in action.record_ids if rid in before] or list(before)
    internal = set(old_ids)
    wanted: dict[str, set[str]] = {}
    for values in before.values():
        for name, linked_table in links.items():
            for linked in values.get(name) or []:
                if linked not in internal:
                    wanted.setdefault(linked_table, set()).add(linked)
    existing: set[str] = set()
    for linked_table, ids in wanted.items():
        existing |= set(await current_of(airtable, action.base_id, linked_table, sorted(ids)))
    dropped: list[str] = []
    payload: list[Fields] = []
    for rid in old_ids:
        fields: Fields = {}
        for name, value in before[rid].items():
            if name not in writable:
                continue
            if name in links:
                kept = [x for x in value or [] if x in existing]
                dropped += [
                    f"{rid}.{name}→{x}"
                    for x in value or []
                    if x not in existing and x not in internal
                ]
                if kept:
                    fields[name] = kept
                continue
            fields[name] = restorable(value)
        payload.append(fields)
    result = await airtable.create_records(action.base_id, action.table_id, payload)
    failed_at = {f.index for f in result.failed}
    attempted = [rid for index, rid in enumerate(old_ids) if index not in failed_at]
    mapping = {old: new["id"] for old, new in zip(attempted, result.succeeded, strict=False)}
    # Links between records deleted together point at new ids now.
    relink = []
    for old, new in mapping.items():
        relinked: Fields = {}
        for name in links:
            inner = [mapping[x] for x in before[old].get(name) or [] if x in mapping]
            if inner:
                kept = [x for x in before[old].get(name) or [] if x in existing]
                relinked[name] = kept + inner
        if relinked:
            relink.append({"id": new, "fields": relinked})
    if relink:
        await airtable.update_records(action.base_id, action.table_id, relink)
    failed = [
        {
            "index": f.index,
            "id": old_ids[f.index] if f.index < len(old_ids) else None,
            "error": f.error,
            "detail": f.detail,
        }
        for f in result.failed
    ]
    status = "done" if not failed else ("partially_failed" if mapping else "failed")
    return Outcome(
        status,
        {"records": {r["id"]: r.get("fields", {}) for r in result.succeeded}},
        list(mapping.values()),
        {"mapping": mapping, "links_dropped": dropped, "failed": failed},
    )


async def _revert_schema(airtable: AirtableService, action: Action) -> Outcome:
    if action.operation == "update_table":
        previous = (action.before or {}).get("table") or {}
        left = (action.after or {}).get("table") or {}
        table = await airtable.resolve_table(action.base_id, action.table_id)
        if table.name != left.get("name", table.name):
            raise RevertRefused(
                f"cannot revert: the table was renamed again since (now {table.name!r})"
            )
        restored = await airtable.update_table(
            action.base_id,
            action.table_id,
            name=previous.get("name"),
            description=previous.get("description") or "",
        )
        return Outcome("done", {"table": {"name": restored.name}}, [], {})
    previous = (action.before or {}).get("field") or {}
    left = (action.after or {}).get("field") or {}
    table = await airtable.resolve_table(action.base_id, action.table_id)
    current = airtable.resolve_field(table, previous["id"])
    if current.name != left.get("name", current.name):
        raise RevertRefused(
            f"cannot revert: the field was renamed again since (now {current.name!r})"
        )
    changed = await airtable.update_field(
        action.base_id,
        action.table_id,
        previous["id"],
        name=previous.get("name"),
        description=previous.get("description") or "",
    )
    return Outcome("done", {"field": {"id": changed.id, "name": changed.name}}, [], {})
