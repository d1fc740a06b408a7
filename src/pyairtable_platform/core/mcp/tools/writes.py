"""Write tools. Every write is an action (who, channel "mcp", before/after, status) that can be
previewed first (preview=true → a diff and an approval token), applied, listed and reverted."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from pyairtable_platform.core.actions.schemas import WriteRequest
from pyairtable_platform.core.actions.service import Submitted
from pyairtable_platform.core.mcp.context import result, tool_call
from pyairtable_platform.core.mcp.tools import ADDITIVE, DESTRUCTIVE, IDEMPOTENT_WRITE, READ
from pyairtable_platform.core.mcp.tools.discovery import BaseId, TableRef

SHOWN = 50

Preview = Annotated[
    bool,
    Field(
        description="true: do not write yet; answer a diff and an approval token for "
        "apply_action (show the diff to the user first)"
    ),
]
Typecast = Annotated[
    bool, Field(description="let Airtable convert values (text to numbers, new select options)")
]


def answer(submitted: Submitted) -> dict[str, Any]:
    """What a write tool says: the action and what it did (or would do)."""
    action = submitted.action
    out: dict[str, Any] = {
        "action_id": str(action.id),
        "status": action.status,
        "summary": action.summary,
    }
    if submitted.approval_token is not None:
        out["diff"] = submitted.diff[:SHOWN]
        out["diff_truncated"] = len(submitted.diff) > SHOWN
        out["approval_token"] = submitted.approval_token
        out["expires_at"] = action.expires_at
        out["preview_required"] = submitted.preview_required
        out["next"] = (
            "nothing was written. Show the summary to the user; if they agree call "
            "apply_action(action_id, approval_token)"
            + (
                " (this API key or workspace requires a preview for this kind of write)"
                if submitted.preview_required
                else ""
            )
        )
        return out
    records = list(((action.after or {}).get("records") or {}).items())
    if records:
        out["records"] = [{"id": rid, "fields": fields} for rid, fields in records[:SHOWN]]
        out["records_truncated"] = len(records) > SHOWN
    for key in ("table", "field", "comment"):
        if key in (action.after or {}):
            out[key] = (action.after or {})[key]
    result_info = action.result or {}
    if result_info.get("failed"):
        out["failed"] = result_info["failed"][:SHOWN]
    for key in ("created_ids", "updated_ids"):
        if result_info.get(key):
            out[key] = result_info[key][: SHOWN * 2]
    out["record_count"] = len(action.record_ids)
    out["undo"] = "revert_action(action_id) undoes this write"
    return out


async def submit(ctx: Context, request: WriteRequest, preview: bool) -> CallToolResult:
    async with tool_call(ctx, write=True) as call:
        submitted = await call.actions().submit(request, preview=preview)
        body = answer(submitted)
    # The failed action is committed above (it is in the log); now the model hears about it.
    if submitted.failed:
        raise ToolError(
            f"the write failed and nothing was changed: {submitted.action.error} "
            f"(action {submitted.action.id})"
        )
    if submitted.uncertain and submitted.exception is not None:
        # Not resent: the model must not retry a create that may have landed.
        raise ToolError(submitted.exception.detail)
    return result(body)


async def create_records(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    records: Annotated[
        list[dict[str, Any]],
        Field(
            min_length=1,
            description="field dicts, e.g. [{'Name': 'Launch plan', 'Status': 'Todo'}] "
            "(or [{'fields': {...}}]); any number, sent 10 per request",
        ),
    ],
    typecast: Typecast = False,
    preview: Preview = False,
) -> CallToolResult:
    """Create records (any number). Answers the new record ids and an action id;
    revert_action deletes them again."""
    request = WriteRequest(
        operation="create", base_id=base_id, table=table, records=records, typecast=typecast
    )
    return await submit(ctx, request, preview)


async def update_records(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    records: Annotated[
        list[dict[str, Any]],
        Field(
            min_length=1,
            description="[{'id': 'rec…', 'fields': {'Status': 'Done'}}]; only the given fields "
            "change",
        ),
    ],
    replace: Annotated[
        bool, Field(description="true: clear every field not given (PUT); default merges")
    ] = False,
    typecast: Typecast = False,
    preview: Preview = False,
) -> CallToolResult:
    """Update records (any number). The previous values are kept, so revert_action can restore
    them."""
    request = WriteRequest(
        operation="update",
        base_id=base_id,
        table=table,
        records=records,
        replace=replace,
        typecast=typecast,
    )
    return await submit(ctx, request, preview)


async def upsert_records(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    records: Annotated[
        list[dict[str, Any]], Field(min_length=1, description="field dicts, as for create")
    ],
    merge_on: Annotated[
        list[str],
        Field(min_length=1, max_length=3, description="1-3 fields that identify a record"),
    ],
    typecast: Typecast = False,
    preview: Preview = False,
) -> CallToolResult:
    """Update the records that match on `merge_on`, create the others."""
    request = WriteRequest(
        operation="upsert",
        base_id=base_id,
        table=table,
        records=records,
        merge_on=merge_on,
        typecast=typecast,
    )
    return await submit(ctx, request, preview)


async def delete_records(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    record_ids: Annotated[list[str], Field(min_length=1, description="record ids (rec…)")],
    preview: Preview = False,
) -> CallToolResult:
    """Delete records (any number). Their content is kept in the action, so revert_action can
    re-create them (with new ids, links restored)."""
    request = WriteRequest(operation="delete", base_id=base_id, table=table, record_ids=record_ids)
    return await submit(ctx, request, preview)


async def create_table(
    ctx: Context,
    *,
    base_id: BaseId,
    name: Annotated[str, Field(min_length=1, max_length=255)],
    fields: Annotated[
        list[dict[str, Any]],
        Field(
            min_length=1,
            description="[{'name': 'Name', 'type': 'singleLineText'}, {'name': 'Done', "
            "'type': 'checkbox', 'options': {...}}]; the first is the primary field",
        ),
    ],
    description: str | None = None,
    preview: Preview = False,
) -> CallToolResult:
    """Create a table with its fields (the first field is the primary one). Recorded as an
    action; Airtable cannot delete tables through its API, so this one cannot be reverted."""
    request = WriteRequest(
        operation="create_table", base_id=base_id, name=name, fields=fields, description=description
    )
    return await submit(ctx, request, preview)


async def update_table(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    name: str | None = None,
    description: str | None = None,
    preview: Preview = False,
) -> CallToolResult:
    """Rename a table or change its description (revert_action restores the old ones)."""
    request = WriteRequest(
        operation="update_table", base_id=base_id, table=table, name=name, description=description
    )
    return await submit(ctx, request, preview)


async def create_field(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    name: Annotated[str, Field(min_length=1, max_length=255)],
    type: Annotated[
        str,
        Field(
            description="Airtable field type: singleLineText, multilineText, number, currency, "
            "checkbox, singleSelect, multipleSelects, date, dateTime, email, url, "
            "multipleRecordLinks..."
        ),
    ],
    options: Annotated[
        dict[str, Any] | None,
        Field(description="type options, e.g. {'choices': [{'name': 'A'}]} or {'precision': 2}"),
    ] = None,
    description: str | None = None,
    preview: Preview = False,
) -> CallToolResult:
    """Add a field of a given type to a table (see describe_table for existing fields)."""
    request = WriteRequest(
        operation="create_field",
        base_id=base_id,
        table=table,
        name=name,
        field_type=type,
        options=options,
        description=description,
    )
    return await submit(ctx, request, preview)


async def update_field(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    field: Annotated[str, Field(description="field id or name")],
    name: str | None = None,
    description: str | None = None,
    preview: Preview = False,
) -> CallToolResult:
    """Rename a field or change its description (revert_action restores the old ones)."""
    request = WriteRequest(
        operation="update_field",
        base_id=base_id,
        table=table,
        field=field,
        name=name,
        description=description,
    )
    return await submit(ctx, request, preview)


async def create_comment(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    record_id: Annotated[str, Field(description="record id (rec…)")],
    text: Annotated[str, Field(min_length=1, max_length=10_000)],
) -> CallToolResult:
    """Add a comment to a record (shown in Airtable's record view)."""
    request = WriteRequest(
        operation="create_comment", base_id=base_id, table=table, record_id=record_id, text=text
    )
    return await submit(ctx, request, False)


async def list_comments(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    record_id: Annotated[str, Field(description="record id (rec…)")],
) -> CallToolResult:
    """The comments on a record, newest first, with author and time."""
    async with tool_call(ctx) as call:
        comments = await call.airtable.list_comments(base_id, table, record_id)
        shown = [
            {
                "id": c.get("id"),
                "text": c.get("text"),
                "author": (c.get("author") or {}).get("name")
                or (c.get("author") or {}).get("email"),
                "createdTime": c.get("createdTime"),
            }
            for c in comments[:SHOWN]
        ]
        return result(
            {"comments": shown, "count": len(comments), "truncated": len(comments) > SHOWN}
        )


def register(server: MCPServer[Any]) -> None:
    server.add_tool(create_records, title="Create records", annotations=ADDITIVE)
    server.add_tool(update_records, title="Update records", annotations=IDEMPOTENT_WRITE)
    server.add_tool(upsert_records, title="Upsert records", annotations=DESTRUCTIVE)
    server.add_tool(delete_records, title="Delete records", annotations=DESTRUCTIVE)
    server.add_tool(create_table, title="Create a table", annotations=ADDITIVE)
    server.add_tool(update_table, title="Update a table", annotations=IDEMPOTENT_WRITE)
    server.add_tool(create_field, title="Create a field", annotations=ADDITIVE)
    server.add_tool(update_field, title="Update a field", annotations=IDEMPOTENT_WRITE)
    server.add_tool(create_comment, title="Comment on a record", annotations=ADDITIVE)
    server.add_tool(list_comments, title="List comments", annotations=READ)
