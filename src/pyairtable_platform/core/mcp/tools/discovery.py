"""Discovery tools: which bases, tables and fields there are."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from pyairtable_platform.core.mcp.context import result, tool_call
from pyairtable_platform.core.mcp.tools import READ

BaseId = Annotated[str, Field(description="base id (app…), from list_bases")]
TableRef = Annotated[str, Field(description="table id (tbl…) or exact table name")]


def field_summary(field: Any, detail: Literal["names", "full"]) -> dict[str, Any]:
    if detail == "names":
        return {"name": field.name, "type": field.type}
    out: dict[str, Any] = {"id": field.id, "name": field.name, "type": field.type}
    if field.description:
        out["description"] = field.description
    options = dict(field.options or {})
    choices = options.pop("choices", None)
    if choices:
        out["choices"] = [c.get("name") for c in choices if isinstance(c, dict)]
    if options:
        out["options"] = options
    return out


def table_summary(table: Any, detail: Literal["ids", "names", "full"]) -> dict[str, Any]:
    if detail == "ids":
        return {"id": table.id, "name": table.name}
    out: dict[str, Any] = {
        "id": table.id,
        "name": table.name,
        "primary_field": table.primary_field_name,
    }
    if table.description:
        out["description"] = table.description
    if detail == "names":
        out["fields"] = [f.name for f in table.fields]
        return out
    out["fields"] = [field_summary(f, "full") for f in table.fields]
    out["views"] = [{"id": v.id, "name": v.name, "type": v.type} for v in table.views]
    return out


async def list_bases(ctx: Context) -> CallToolResult:
    """List the Airtable bases this workspace can reach (id, name, permission, mirror sync
    status). Start here: every other tool takes a base_id from this list."""
    async with tool_call(ctx) as call:
        bases = await call.airtable.list_bases()
        return result(
            {
                "bases": [
                    {
                        "id": b.id,
                        "name": b.name,
                        "permission": b.permission_level,
                        "sync_status": b.sync_status,
                        "last_synced_at": b.last_synced_at,
                    }
                    for b in bases
                ],
                "count": len(bases),
            }
        )


async def list_tables(
    ctx: Context,
    *,
    base_id: BaseId,
    detail: Annotated[
        Literal["ids", "names", "full"],
        Field(
            description="ids: table ids and names only; names: plus field names (default); "
            "full: field types, options, choices and views"
        ),
    ] = "names",
) -> CallToolResult:
    """List the tables of a base. Use detail='ids' for the cheapest overview, 'names' to see
    field names, 'full' for everything (or describe_table for one table)."""
    async with tool_call(ctx) as call:
        schema = await call.airtable.get_schema(base_id)
        return result(
            {
                "base_id": schema.id,
                "base_name": schema.name,
                "table_count": len(schema.tables),
                "tables": [table_summary(t, detail) for t in schema.tables],
            }
        )


async def describe_table(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    fields: Annotated[
        list[str] | None, Field(description="only these fields (names or ids); default all")
    ] = None,
) -> CallToolResult:
    """Describe one table: every field with id, type, description, options (select choices,
    formula text, linked table, number format), the primary field and the views. Use the exact
    field names from here in formulas, sorts and writes."""
    async with tool_call(ctx) as call:
        schema = await call.airtable.resolve_table(base_id, table)
        chosen = schema.fields
        if fields:
            chosen = [call.airtable.resolve_field(schema, name) for name in fields]
        counts: dict[str, int] = {}
        for f in schema.fields:
            counts[f.type] = counts.get(f.type, 0) + 1
        out = table_summary(schema, "full")
        out["fields"] = [field_summary(f, "full") for f in chosen]
        out["field_count"] = len(schema.fields)
        out["field_types"] = counts
        return result(out)


def register(server: MCPServer[Any]) -> None:
    server.add_tool(list_bases, title="List bases", annotations=READ)
    server.add_tool(list_tables, title="List tables", annotations=READ)
    server.add_tool(describe_table, title="Describe a table", annotations=READ)
