"""Tools built from several steps: a metadata table of a base, and syncing two tables. Their
writes go through actions like any other, so each step can be listed and reverted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from pyairtable_platform.core.actions.diff import COMPUTED_TYPES
from pyairtable_platform.core.actions.schemas import WriteRequest
from pyairtable_platform.core.mcp.context import ToolCall, result, tool_call
from pyairtable_platform.core.mcp.tools import ADDITIVE, DESTRUCTIVE
from pyairtable_platform.core.mcp.tools.analysis import scan
from pyairtable_platform.core.mcp.tools.discovery import BaseId, TableRef

SHOWN = 5
PURPOSES = {
    "Project/Task Management": ("task", "project", "todo", "milestone", "sprint"),
    "Contact/People Management": ("team", "people", "member", "employee", "staff", "user"),
    "Product/Inventory Tracking": ("product", "inventory", "item", "stock", "sku"),
    "Event/Schedule Management": ("event", "schedule", "calendar", "meeting"),
    "Contact Information": ("customer", "client", "contact", "lead", "account"),
    "Financial/Budget Tracking": ("deal", "budget", "invoice", "payment", "expense", "revenue"),
}
GENERAL = "General Data Storage"
METADATA_FIELDS = [
    {"name": "Table Name", "type": "singleLineText"},
    {"name": "Table ID", "type": "singleLineText"},
    {"name": "Description", "type": "multilineText"},
    {"name": "Field Count", "type": "number", "options": {"precision": 0}},
    {"name": "View Count", "type": "number", "options": {"precision": 0}},
    {"name": "Field Types", "type": "multilineText"},
    {"name": "Primary Fields", "type": "singleLineText"},
    {
        "name": "Purpose",
        "type": "singleSelect",
        "options": {"choices": [{"name": n} for n in [*PURPOSES, GENERAL]]},
    },
    {"name": "Analysis Date", "type": "singleLineText"},
]


def purpose(name: str, field_names: list[str]) -> str:
    words = " ".join([name, *field_names]).lower()
    for label, keys in PURPOSES.items():
        if any(key in name.lower() for key in keys):
            return label
    for label, keys in PURPOSES.items():
        if any(key in words for key in keys):
            return label
    return GENERAL


async def _write(call: ToolCall, request: WriteRequest) -> Any:
    submitted = await call.actions().submit(request)
    if submitted.failed:
        raise ToolError(
            f"{request.operation} failed: {submitted.action.error} (action {submitted.action.id})"
        )
    return submitted.action


async def create_metadata_table(
    ctx: Context,
    *,
    base_id: BaseId,
    table_name: Annotated[str, Field(min_length=1, max_length=255)] = "Table Metadata",
) -> CallToolResult:
    """Document a base inside itself: one record per table (name, id, description, field and
    view counts, field types, first fields, a guessed purpose), in a table `table_name` that is
    created when missing (records are appended when it exists)."""
    async with tool_call(ctx, write=True) as call:
        schema = await call.airtable.get_schema(base_id)
        existing = next((t for t in schema.tables if t.name.lower() == table_name.lower()), None)
        today = datetime.now(UTC).date().isoformat()
        rows = []
        for table in schema.tables:
            if existing is not None and table.id == existing.id:
                continue
            counts: dict[str, int] = {}
            for f in table.fields:
                counts[f.type] = counts.get(f.type, 0) + 1
            names = table.field_names()
            rows.append(
                {
                    "Table Name": table.name,
                    "Table ID": table.id,
                    "Description": table.description or "",
                    "Field Count": len(table.fields),
                    "View Count": len(table.views),
                    "Field Types": ", ".join(f"{t}: {n}" for t, n in sorted(counts.items())),
                    "Primary Fields": ", ".join(names[:3]),
                    "Purpose": purpose(table.name, names),
                    "Analysis Date": today,
                }
            )
        actions = []
        target = existing.id if existing else None
        if target is None:
            created = await _write(
                call,
                WriteRequest(
                    operation="create_table",
                    base_id=base_id,
                    name=table_name,
                    fields=METADATA_FIELDS,
                ),
            )
            actions.append(str(created.id))
            target = created.table_id
        written = await _write(
            call,
            WriteRequest(
                operation="create", base_id=base_id, table=target, records=rows, typecast=True
            ),
        )
        actions.append(str(written.id))
        by_purpose: dict[str, int] = {}
        for row in rows:
            label = str(row["Purpose"])
            by_purpose[label] = by_purpose.get(label, 0) + 1
        return result(
            {
                "table_id": target,
                "table_name": existing.name if existing else table_name,
                "table_created": existing is None,
                "records_created": len(written.record_ids),
                "purposes": by_purpose,
                "action_ids": actions,
                "url": f"https://airtable.com/{base_id}/{target}",
            }
        )


def _comparable(value: Any) -> Any:
    if isinstance(value, list):
        return [(v.get("url") or v.get("name")) if isinstance(v, dict) else v for v in value]
    return value


async def sync_tables(
    ctx: Context,
    *,
    source_base_id: Annotated[str, Field(description="base id of the source")],
    source_table: Annotated[str, Field(description="source table id or name")],
    target_base_id: Annotated[str, Field(description="base id of the target")],
    target_table: TableRef,
    key_field: Annotated[str, Field(description="field that identifies a record on both sides")],
    dry_run: Annotated[bool, Field(description="true (default): only answer the plan")] = True,
    delete_missing: Annotated[
        bool, Field(description="also delete target records whose key is not in the source")
    ] = False,
    fields: Annotated[
        list[str] | None, Field(description="fields to copy; default every shared writable field")
    ] = None,
) -> CallToolResult:
    """Make a target table match a source table by a key field: plan the creates, updates
    (and, with delete_missing, deletes); with dry_run=false run them as actions (each can be
    reverted)."""
    async with tool_call(ctx, write=not dry_run) as call:
        source = await call.airtable.resolve_table(source_base_id, source_table)
        target = await call.airtable.resolve_table(target_base_id, target_table)
        for side in (source, target):
            if key_field not in side.field_names():
                raise ToolError(
                    f"key_field {key_field!r} is not a field of {side.name}; fields are: "
                    + ", ".join(side.field_names())
                )
        writable = {
            f.name
            for f in target.fields
            if f.type not in COMPUTED_TYPES and f.type != "multipleRecordLinks"
        }
        shared = [n for n in (fields or source.field_names()) if n in writable]
        if fields:
            missing = [n for n in fields if n not in writable]
            if missing:
                raise ToolError(
                    f"not writable fields of {target.name}: {', '.join(missing)}; writable: "
                    + ", ".join(sorted(writable))
                )
        limit = call.runtime.settings.max_scan_records
        src, src_more, _, _ = await scan(call, source_base_id, source.id, limit=limit)
        dst, dst_more, _, _ = await scan(call, target_base_id, target.id, limit=limit)
        if src_more or dst_more:
            raise ToolError(
                f"a side has more than {limit} records; sync_tables handles up to {limit} per side"
            )
        by_key = {
            str(r["fields"].get(key_field)): r
            for r in dst
            if r["fields"].get(key_field) is not None
        }
        creates, updates = [], []
        seen = set()
        for record in src:
            key = record.get("fields", {}).get(key_field)
            if key is None:
                continue
            seen.add(str(key))
            values = {n: record["fields"].get(n) for n in shared if n in record.get("fields", {})}
            match = by_key.get(str(key))
            if match is None:
                creates.append(values)
                continue
            changed = {
                n: v
                for n, v in values.items()
                if _comparable(v) != _comparable(match["fields"].get(n))
            }
            if changed:
                updates.append({"id": match["id"], "fields": changed})
        deletes = [r["id"] for k, r in by_key.items() if k not in seen] if delete_missing else []
        plan = {
            "creates": len(creates),
            "updates": len(updates),
            "deletes": len(deletes),
            "fields": shared,
            "sample": {
                "creates": creates[:SHOWN],
                "updates": updates[:SHOWN],
                "deletes": deletes[:SHOWN],
            },
        }
        if dry_run:
            return result({"dry_run": True, **plan})
        actions: dict[str, str] = {}
        for op, request in (
            (
                "create",
                WriteRequest(
                    operation="create", base_id=target_base_id, table=target.id, records=creates
                ),
            ),
            (
                "update",
                WriteRequest(
                    operation="update", base_id=target_base_id, table=target.id, records=updates
                ),
            ),
            (
                "delete",
                WriteRequest(
                    operation="delete", base_id=target_base_id, table=target.id, record_ids=deletes
                ),
            ),
        ):
            if request.records or request.record_ids:
                actions[op] = str((await _write(call, request)).id)
        return result({"dry_run": False, **plan, "action_ids": actions})


def register(server: MCPServer[Any]) -> None:
    server.add_tool(create_metadata_table, title="Create a metadata table", annotations=ADDITIVE)
    server.add_tool(sync_tables, title="Sync two tables", annotations=DESTRUCTIVE)
