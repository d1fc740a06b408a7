"""Safety tools: preview any write, apply it with its approval token, revert what was done,
list the workspace's actions."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field

from pyairtable_platform.core.actions.schemas import (
    ActionOut,
    Channel,
    Operation,
    Status,
    WriteRequest,
)
from pyairtable_platform.core.mcp.context import result, tool_call
from pyairtable_platform.core.mcp.tools import ADDITIVE, DESTRUCTIVE, READ
from pyairtable_platform.core.mcp.tools.discovery import BaseId
from pyairtable_platform.core.mcp.tools.writes import answer, submit

ActionId = Annotated[uuid.UUID, Field(description="action id, from a write or list_actions")]


def brief(action: ActionOut) -> dict[str, Any]:
    return action.model_dump(
        mode="json",
        include={
            "id",
            "status",
            "operation",
            "channel",
            "base_id",
            "table_name",
            "record_count",
            "summary",
            "created_at",
            "executed_at",
            "reverted_at",
            "revert_of",
            "error",
        },
        exclude_none=True,
    )


async def preview_changes(
    ctx: Context,
    *,
    operation: Operation,
    base_id: BaseId,
    table: Annotated[
        str | None, Field(description="table id or name (not for create_table)")
    ] = None,
    records: Annotated[
        list[dict[str, Any]],
        Field(description="create/upsert: field dicts; update: [{'id','fields'}]"),
    ] = [],  # noqa: B006
    record_ids: Annotated[list[str], Field(description="delete: record ids")] = [],  # noqa: B006
    merge_on: Annotated[list[str], Field(description="upsert: key fields")] = [],  # noqa: B006
    replace: bool = False,
    typecast: bool = False,
    name: str | None = None,
    description: str | None = None,
    fields: Annotated[list[dict[str, Any]], Field(description="create_table: fields")] = [],  # noqa: B006
    field: Annotated[str | None, Field(description="update_field: field id or name")] = None,
    field_type: Annotated[str | None, Field(description="create_field: type")] = None,
    options: dict[str, Any] | None = None,
) -> CallToolResult:
    """Preview any write without doing it: answers a human-readable diff (current → new values),
    an action id and a short-lived approval token. Nothing changes until apply_action is called
    with both. Equivalent to calling a write tool with preview=true."""
    request = WriteRequest(
        operation=operation,
        base_id=base_id,
        table=table,
        records=records,
        record_ids=record_ids,
        merge_on=merge_on,
        replace=replace,
        typecast=typecast,
        name=name,
        description=description,
        fields=fields,
        field=field,
        field_type=field_type,
        options=options,
    )
    return await submit(ctx, request, True)


async def apply_action(
    ctx: Context,
    *,
    action_id: ActionId,
    approval_token: Annotated[str, Field(description="the approval_token of the preview")],
) -> CallToolResult:
    """Run a previewed write once the user approved it. The records are read again first, so
    the action can later be reverted exactly."""
    async with tool_call(ctx, write=True) as call:
        action = await call.actions().apply(action_id, approval_token)
        from pyairtable_platform.core.actions.service import Submitted

        body = answer(Submitted(action))
        status, error = action.status, action.error
    if status == "failed":
        raise ToolError(f"the write failed and nothing was changed: {error} (action {action_id})")
    return result(body)


async def revert_action(ctx: Context, action_id: ActionId) -> CallToolResult:
    """Undo an executed write: restores updated fields, re-creates deleted records (new ids,
    links restored; the old → new id mapping is answered) and deletes created records. Refuses,
    saying which records, when they changed after the action."""
    async with tool_call(ctx, write=True) as call:
        original, undo = await call.actions().revert(action_id)
        body = {
            "reverted_action_id": str(original.id),
            "revert_action_id": str(undo.id),
            "status": undo.status,
            "original_status": original.status,
            "result": undo.result,
        }
        error = undo.error
    if body["status"] == "failed":
        raise ToolError(f"the revert failed: {error} (revert action {body['revert_action_id']})")
    return result(body)


async def list_actions(
    ctx: Context,
    *,
    status: Annotated[Status | None, Field(description="only this status")] = None,
    base_id: str | None = None,
    table: Annotated[str | None, Field(description="table id or name")] = None,
    channel: Annotated[Channel | None, Field(description="mcp, api, chat, workflow, ui")] = None,
    record_id: Annotated[str | None, Field(description="actions that touched this record")] = None,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
) -> CallToolResult:
    """The workspace's recent writes (newest first) with who, channel, status and a summary —
    to find an action to apply or revert."""
    async with tool_call(ctx) as call:
        rows = await call.actions().list(
            status=status,
            base_id=base_id,
            table=table,
            channel=channel,
            record_id=record_id,
            limit=limit,
        )
        shown = [brief(ActionOut.of(row)) for row in rows]
        return result({"actions": shown, "count": len(shown), "truncated": len(shown) == limit})


def register(server: MCPServer[Any]) -> None:
    server.add_tool(preview_changes, title="Preview a write", annotations=ADDITIVE)
    server.add_tool(apply_action, title="Apply a previewed write", annotations=DESTRUCTIVE)
    server.add_tool(revert_action, title="Revert a write", annotations=DESTRUCTIVE)
    server.add_tool(list_actions, title="List actions", annotations=READ)
