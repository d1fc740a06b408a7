"""Running a write against Airtable, and undoing it: snapshots, execution, revert plans.

Everything here talks to Airtable through :class:`AirtableService` (rate limits, cache
invalidation and mirror write-through included); the lifecycle bookkeeping is the service's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyairtable.formulas import OR, match

from pyairtable_platform.core.actions.diff import COMPUTED_TYPES, record_changes
from pyairtable_platform.core.actions.exceptions import (
    InvalidWrite,
    RecordNotFound,
    RevertRefused,
)
from pyairtable_platform.core.actions.schemas import WriteRequest
from pyairtable_platform.core.airtable.exceptions import AirtableError, AirtableWriteUncertain
from pyairtable_platform.kit.errors import PlatformError

if TYPE_CHECKING:
    from pyairtable_platform.core.airtable.schemas import TableSchema
    from pyairtable_platform.core.airtable.service import AirtableService

Fields = dict[str, Any]
MATCH_CHUNK = 20  # upsert keys per lookup formula (keeps the URL short)
UNCERTAIN = AirtableWriteUncertain.error


@dataclass
class Plan:
    """What a write will do, known before it runs."""

    table_id: str
    table_name: str | None
    record_ids: list[str]
    before: dict[str, Any] | None
    diff: list[dict[str, Any]]
    primary: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    status: str  # done | partially_failed | failed | uncertain
    after: dict[str, Any] | None
    record_ids: list[str]
    result: dict[str, Any]
    error: str | None = None
    table_id: str | None = None
    # The upstream failure itself (not stored): REST callers re-raise it with its status.
    exception: PlatformError | None = None


def writable_fields(table: TableSchema) -> set[str]:
    return {f.name for f in table.fields if f.type not in COMPUTED_TYPES}


def field_dicts(records: list[dict[str, Any]]) -> list[Fields]:
    """Accept ``{"fields": {...}}`` items or plain field dicts."""
    out = []
    for index, item in enumerate(records):
        fields = item.get("fields") if isinstance(item.get("fields"), dict) else item
        if not isinstance(fields, dict) or not fields:
            raise InvalidWrite(f"records[{index}] has no fields; give {{'Field name': value}}")
        out.append({k: v for k, v in fields.items() if k != "id"})
    return out


def check_fields(table: TableSchema, names: set[str]) -> None:
    known = {f.name for f in table.fields} | {f.id for f in table.fields}
    unknown = sorted(names - known)
    if unknown:
        valid = ", ".join(f.name for f in table.fields)
        raise InvalidWrite(
            f"unknown field {', '.join(map(repr, unknown))} in table {table.name}; "
            f"fields are: {valid}"
        )
    computed = sorted(
        f.name
        for f in table.fields
        if f.type in COMPUTED_TYPES and (f.name in names or f.id in names)
    )
    if computed:
        raise InvalidWrite(
            f"field {', '.join(map(repr, computed))} of {table.name} is computed by Airtable "
            "and cannot be written"
        )


def _primary(table: TableSchema, records: dict[str, Fields]) -> dict[str, str]:
    name = table.primary_field_name
    return {rid: str(fields.get(name, "")) for rid, fields in records.items() if name}


async def snapshot(
    airtable: AirtableService, base_id: str, table: TableSchema, ids: list[str]
) -> dict[str, Fields]:
    """Current fields of records, upstream (never from a cache); :class:`RecordNotFound`
    naming the ids that do not exist."""
    records = await airtable.get_records_by_ids(base_id, table.id, ids) if ids else []
    found = {r["id"]: r.get("fields", {}) for r in records}
    missing = [rid for rid in ids if rid not in found]
    if missing:
        raise RecordNotFound(
            f"record {', '.join(missing[:10])} not found in table {table.name}"
            + (f" (and {len(missing) - 10} more)" if len(missing) > 10 else "")
            + "; list_records shows the table's record ids"
        )
    return found


async def _upsert_matches(
    airtable: AirtableService,
    base_id: str,
    table: TableSchema,
    fields: list[Fields],
    keys: list[str],
) -> dict[str, Fields]:
    found: dict[str, Fields] = {}
    wanted = [{k: item.get(k) for k in keys} for item in fields if all(k in item for k in keys)]
    for start in range(0, len(wanted), MATCH_CHUNK):
        chunk = wanted[start : start + MATCH_CHUNK]
        formula = str(OR(*(match(values) for values in chunk)))
        offset: str | None = None
        while True:
            page = await airtable.list_records(base_id, table.id, formula=formula, offset=offset)
            for record in page.records:
                found[record["id"]] = record.get("fields", {})
            offset = page.offset
            if not offset:
                break
    return found


async def plan(
    airtable: AirtableService, request: WriteRequest, max_records: int, *, strict: bool = True
) -> Plan:
    """Validate a write and snapshot what it will change. ``strict``: refuse unknown and
    computed fields up front (else Airtable reports them per record, the rest is written)."""
    op = request.operation
    base = request.base_id
    if op == "create_table":
        if not request.name:
            raise InvalidWrite("create_table needs a name")
        if not request.fields:
            raise InvalidWrite(
                "create_table needs fields: [{'name': 'Name', 'type': 'singleLineText'}]"
            )
        return Plan(
            "",
            request.name,
            [],
            None,
            [{"id": None, "changes": {"table": {"after": request.name}}}],
        )
    if not request.table:
        raise InvalidWrite(f"{op} needs a table (id or name)")
    table = await airtable.resolve_table(base, request.table)
    if op in ("update_table", "create_field", "update_field"):
        return await _plan_schema(airtable, request, table)
    if op == "add_attachments":
        return await _plan_attachments(airtable, request, table)
    if op == "create_comment":
        return await _plan_comment(airtable, request, table)

    count = len(request.record_ids) if op == "delete" else len(request.records)
    if count == 0:
        raise InvalidWrite(
            f"{op} needs at least one record"
            + (" id in record_ids" if op == "delete" else " in records")
        )
    if count > max_records:
        raise InvalidWrite(
            f"{count} records in one write; the limit is {max_records} per action — split it"
        )
    writable = writable_fields(table)
    if op == "delete":
        ids = list(dict.fromkeys(request.record_ids))
        before = await snapshot(airtable, base, table, ids)
        gone: list[dict[str, Any]] = [{"id": rid, "changes": {}} for rid in ids]
        return Plan(table.id, table.name, ids, {"records": before}, gone, _primary(table, before))
    if op == "update":
        ids = []
        for index, item in enumerate(request.records):
            if not isinstance(item.get("id"), str) or not isinstance(item.get("fields"), dict):
                raise InvalidWrite(f"records[{index}] must be {{'id': 'rec…', 'fields': {{…}}}}")
            if strict:
                check_fields(table, set(item["fields"]))
            ids.append(item["id"])
        if len(set(ids)) != len(ids):
            raise InvalidWrite("the same record id appears twice in one update; merge them")
        before = await snapshot(airtable, base, table, ids)
        diff = [
            record_changes(
                item["id"],
                before[item["id"]],
                item["fields"],
                replace=request.replace,
                writable=writable,
            )
            for item in request.records
        ]
        return Plan(table.id, table.name, ids, {"records": before}, diff, _primary(table, before))
    fields = field_dicts(request.records)
    for item in fields if strict else ():
        check_fields(table, set(item))
    if op == "create":
        diff = [record_changes(None, None, item) for item in fields]
        return Plan(table.id, table.name, [], None, diff)
    # upsert
    if not 1 <= len(request.merge_on) <= 3:
        raise InvalidWrite("upsert needs merge_on: 1 to 3 field names that identify a record")
    check_fields(table, set(request.merge_on))
    matches = await _upsert_matches(airtable, base, table, fields, request.merge_on)
    by_key = {
        tuple(repr(f.get(k)) for k in request.merge_on): (rid, f) for rid, f in matches.items()
    }
    diff = []
    for item in fields:
        hit = by_key.get(tuple(repr(item.get(k)) for k in request.merge_on))
        diff.append(record_changes(hit[0] if hit else None, hit[1] if hit else None, item))
    return Plan(
        table.id, table.name, list(matches), {"records": matches}, diff, _primary(table, matches)
    )


async def _plan_comment(
    airtable: AirtableService, request: WriteRequest, table: TableSchema
) -> Plan:
    if not request.record_id or not request.text:
        raise InvalidWrite("create_comment needs record_id and text")
    await snapshot(airtable, request.base_id, table, [request.record_id])
    comment: list[dict[str, Any]] = [
        {
            "id": request.record_id,
            "changes": {"comment": {"before": None, "after": request.text}},
        }
    ]
    return Plan(table.id, table.name, [request.record_id], None, comment)


async def _plan_attachments(
    airtable: AirtableService, request: WriteRequest, table: TableSchema
) -> Plan:
    if not request.record_id or not request.field or not request.attachments:
        raise InvalidWrite("add_attachments needs record_id, field and attachments [{'url'}]")
    found = airtable.resolve_field(table, request.field)
    if found.type != "multipleAttachments":
        raise InvalidWrite(f"field {found.name!r} of {table.name} is {found.type}, not attachments")
    current = await snapshot(airtable, request.base_id, table, [request.record_id])
    had = current[request.record_id].get(found.name)
    before = {"records": {request.record_id: {found.name: had}}, "field": found.name}
    added = ", ".join(str(a.get("filename") or a.get("url")) for a in request.attachments)
    change = {found.name: {"before": len(had or []), "after": f"+ {added}"}}
    diff: list[dict[str, Any]] = [{"id": request.record_id, "changes": change}]
    return Plan(table.id, table.name, [request.record_id], before, diff, _primary(table, current))


async def _plan_schema(
    airtable: AirtableService, request: WriteRequest, table: TableSchema
) -> Plan:
    op = request.operation
    if op == "update_table":
        if request.name is None and request.description is None:
            raise InvalidWrite("update_table needs a new name or description")
        before = {"name": table.name, "description": table.description}
        after = {
            k: v
            for k, v in (("name", request.name), ("description", request.description))
            if v is not None
        }
        return Plan(
            table.id, table.name, [], {"table": before}, [record_changes(table.id, before, after)]
        )
    if op == "create_field":
        if not request.name or not request.field_type:
            raise InvalidWrite("create_field needs a name and a field_type (e.g. singleLineText)")
        if request.name in {f.name for f in table.fields}:
            raise InvalidWrite(f"table {table.name} already has a field {request.name!r}")
        diff = [
            {
                "id": None,
                "changes": {
                    "field": {"before": None, "after": f"{request.name} ({request.field_type})"}
                },
            }
        ]
        return Plan(table.id, table.name, [], None, diff)
    if not request.field:
        raise InvalidWrite("update_field needs field (id or name)")
    found = airtable.resolve_field(table, request.field)
    if request.name is None and request.description is None:
        raise InvalidWrite("update_field needs a new name or description")
    before = {"id": found.id, "name": found.name, "description": found.description}
    after = {
        k: v
        for k, v in (("name", request.name), ("description", request.description))
        if v is not None
    }
    return Plan(
        table.id, table.name, [], {"field": before}, [record_changes(found.id, before, after)]
    )


def _outcome(outcome: Any, before_ids: list[str] | None = None) -> Outcome:
    succeeded = {r["id"]: r.get("fields", {}) for r in outcome.succeeded}
    failed = [
        {"index": f.index, "id": f.id, "error": f.error, "detail": f.detail} for f in outcome.failed
    ]
    status = "done" if not failed else ("partially_failed" if succeeded else "failed")
    result: dict[str, Any] = {"succeeded": len(succeeded), "failed": failed}
    if getattr(outcome, "created_ids", None):
        result["created_ids"] = list(outcome.created_ids)
    if getattr(outcome, "updated_ids", None):
        result["updated_ids"] = list(outcome.updated_ids)
    ids = list(succeeded) if before_ids is None else before_ids
    return Outcome(status, {"records": succeeded}, ids, result)


def _uncertain(
    request: WriteRequest, outcome: Outcome | None, since: datetime, exc: PlatformError
) -> Outcome:
    """A create some of whose records Airtable may or may not have made: what is known
    (``after``), and what was attempted without an answer, for the reconciliation."""
    fields = field_dicts(request.records)
    result: dict[str, Any] = dict(outcome.result) if outcome else {"succeeded": 0}
    failed: list[dict[str, Any]] = result.get("failed", [])
    if outcome is None:
        unknown = list(range(len(fields)))
    else:
        unknown = [f["index"] for f in failed if f["error"] == UNCERTAIN]
    result["failed"] = [f for f in failed if f["error"] != UNCERTAIN]
    result["uncertain"] = {
        "since": since.isoformat(),
        "attempted": [{"index": i, "fields": fields[i]} for i in unknown],
    }
    return Outcome(
        "uncertain",
        outcome.after if outcome else {"records": {}},
        outcome.record_ids if outcome else [],
        result,
        error=f"{len(unknown)} record(s) may or may not have been created: {exc.detail}",
        exception=exc,
    )


async def execute(airtable: AirtableService, request: WriteRequest, planned: Plan) -> Outcome:
    """Run the write; Airtable failures become a ``failed`` outcome, never an exception. A
    create whose request went unanswered is ``uncertain`` (see :mod:`.reconcile`)."""
    since = datetime.now(UTC)
    try:
        outcome = await _execute(airtable, request, planned)
    except AirtableWriteUncertain as exc:
        if request.operation == "create":
            return _uncertain(request, None, since, exc)
        return _failed(planned, exc)
    except PlatformError as exc:
        return _failed(planned, exc)
    if request.operation == "create" and any(
        f["error"] == UNCERTAIN for f in outcome.result.get("failed", [])
    ):
        first = next(f for f in outcome.result["failed"] if f["error"] == UNCERTAIN)
        return _uncertain(request, outcome, since, AirtableError(first["detail"]))
    return outcome


def _failed(planned: Plan, exc: PlatformError) -> Outcome:
    return Outcome(
        "failed",
        None,
        planned.record_ids,
        {"error": exc.error},
        error=exc.detail,
        exception=exc,
    )


async def _execute(airtable: AirtableService, request: WriteRequest, planned: Plan) -> Outcome:
    base, table, op = request.base_id, planned.table_id, request.operation
    if op == "create":
        result = await airtable.create_records(
            base, table, field_dicts(request.records), typecast=request.typecast
        )
        return _outcome(result)
    if op == "update":
        result = await airtable.update_records(
            base, table, request.records, replace=request.replace, typecast=request.typecast
        )
        return _outcome(result)
    if op == "delete":
        result = await airtable.delete_records(base, table, planned.record_ids)
        outcome = _outcome(result)
        outcome.after = None
        return outcome
    if op == "upsert":
        result = await airtable.upsert_records(
            base,
            table,
            [{"fields": f} for f in field_dicts(request.records)],
            request.merge_on,
            replace=request.replace,
            typecast=request.typecast,
        )
        return _outcome(result)
    if op == "create_table":
        created = await airtable.create_table(
            base, request.name or "", request.fields, description=request.description
        )
        return Outcome(
            "done", {"table": _dump(created)}, [], {"table_id": created.id}, table_id=created.id
        )
    if op == "update_table":
        updated = await airtable.update_table(
            base, table, name=request.name, description=request.description
        )
        return Outcome("done", {"table": _dump(updated)}, [], {})
    if op == "create_field":
        new_field = await airtable.create_field(
            base,
            table,
            request.name or "",
            request.field_type or "",
            description=request.description,
            options=request.options,
        )
        return Outcome("done", {"field": _dump(new_field)}, [], {"field_id": new_field.id})
    if op == "update_field":
        assert planned.before is not None
        changed = await airtable.update_field(
            base,
            table,
            planned.before["field"]["id"],
            name=request.name,
            description=request.description,
        )
        return Outcome("done", {"field": _dump(changed)}, [], {})
    if op == "add_attachments":
        assert planned.before is not None
        record = await airtable.add_attachments(
            base, table, request.record_id or "", planned.before["field"], request.attachments
        )
        return Outcome("done", {"records": {record["id"]: record.get("fields", {})}}, [], {})
    # create_comment
    comment = await airtable.create_comment(
        base,
        table,
        request.record_id or "",
        request.text or "",
        parent_comment_id=request.parent_comment_id,
    )
    return Outcome(
        "done", {"comment": comment}, planned.record_ids, {"comment_id": comment.get("id")}
    )


def _dump(value: Any) -> dict[str, Any]:
    dumped = value.model_dump(mode="json") if hasattr(value, "model_dump") else dict(vars(value))
    return dict(dumped)


# --- revert ----------------------------------------------------------------------------------


def _norm(value: Any) -> Any:
    if isinstance(value, list):
        return [
            (v.get("url") or v.get("id"))
            if isinstance(v, dict) and ("url" in v or "id" in v)
            else v
            for v in value
        ]
    return value


def conflicts(
    current: dict[str, Fields], expected: dict[str, Fields], names: dict[str, set[str]]
) -> list[str]:
    """Fields that differ from what the action left behind, as ``rec…: Field`` strings."""
    found = []
    for rid, fields in expected.items():
        if rid not in current:
            found.append(f"{rid}: deleted since")
            continue
        for name in sorted(names.get(rid, set())):
            if _norm(current[rid].get(name)) != _norm(fields.get(name)):
                found.append(f"{rid}: {name}")
    return found


def refuse_if_changed(found: list[str], table_name: str | None) -> None:
    if found:
        shown = "; ".join(found[:10]) + (
            f" (and {len(found) - 10} more)" if len(found) > 10 else ""
        )
        raise RevertRefused(
            f"cannot revert: records in {table_name or 'the table'} changed after this action "
            f"({shown}); reverting would overwrite those later changes. Review them with "
            "get_record and write the values you want with update_records instead"
        )


def restorable(value: Any) -> Any:
    """A value as it can be written back (attachments by URL)."""
    if isinstance(value, list) and value and isinstance(value[0], dict) and "url" in value[0]:
        return [
            {"url": v["url"], **({"filename": v["filename"]} if v.get("filename") else {})}
            for v in value
        ]
    return value


async def current_of(
    airtable: AirtableService, base_id: str, table_id: str, ids: list[str]
) -> dict[str, Fields]:
    records = await airtable.get_records_by_ids(base_id, table_id, ids) if ids else []
    return {r["id"]: r.get("fields", {}) for r in records}
