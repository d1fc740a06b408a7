"""Read tools: records, one record, search, exact aggregates."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pyairtable.formulas import FIND, LOWER, OR
from pyairtable.formulas import Field as FormulaField
from pydantic import BaseModel, ConfigDict, Field

from pyairtable_platform.core.mcp.context import ToolCall, result, tool_call
from pyairtable_platform.core.mcp.tools import READ
from pyairtable_platform.core.mcp.tools.discovery import BaseId, TableRef

FieldList = Annotated[
    list[str] | None,
    Field(description="return only these fields (names); fewer fields = smaller answers"),
]


def compact_record(record: dict[str, Any]) -> dict[str, Any]:
    return {"id": record["id"], "fields": record.get("fields", {})}


def freshness(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    out: dict[str, Any] = {"source": value.source}
    if value.synced_at is not None:
        out["synced_at"] = value.synced_at
    if value.age_seconds is not None:
        out["age_seconds"] = round(value.age_seconds, 1)
    return out


async def list_records(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    formula: Annotated[
        str | None,
        Field(description="Airtable filterByFormula, e.g. \"AND({Status}='Done', {Amount}>100)\""),
    ] = None,
    sort: Annotated[
        list[str] | None,
        Field(description="field names to sort by; prefix '-' for descending: ['-Amount', 'Name']"),
    ] = None,
    fields: FieldList = None,
    view: Annotated[str | None, Field(description="view name or id (its filter and order)")] = None,
    page_size: Annotated[int, Field(ge=1, le=100, description="records per answer")] = 50,
    cursor: Annotated[
        str | None, Field(description="next_cursor of the previous answer, for the next page")
    ] = None,
    max_records: Annotated[
        int | None, Field(ge=1, description="stop after this many records in total")
    ] = None,
) -> CallToolResult:
    """List records of a table, filtered, sorted and projected. Answers carry `total` (the
    table's true record count from the mirror, when known), `truncated` and `next_cursor` when
    more records match, and `freshness` (where the data came from, how old)."""
    async with tool_call(ctx) as call:
        cap = min(page_size, call.runtime.settings.max_records)
        page = await call.airtable.list_records(
            base_id,
            table,
            formula=formula,
            sort=sort,
            fields=fields,
            view=view,
            page_size=cap,
            offset=cursor,
            max_records=max_records,
        )
        records = [compact_record(r) for r in page.records[:cap]]
        return result(
            {
                "records": records,
                "count": len(records),
                "total": page.total,
                "truncated": bool(page.offset) or page.truncated or len(page.records) > cap,
                "next_cursor": page.offset,
                "freshness": freshness(page.freshness),
            }
        )


async def get_record(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    record_id: Annotated[str, Field(description="record id (rec…)")],
    expand_links: Annotated[
        bool,
        Field(description="replace linked record ids by {id, name} of the linked records"),
    ] = False,
    fields: FieldList = None,
) -> CallToolResult:
    """Get one record by id, optionally with its linked records expanded (names read from the
    mirror, so no extra Airtable requests)."""
    async with tool_call(ctx) as call:
        record = await call.airtable.get_record(
            base_id, table, record_id, expand_links=expand_links
        )
        values = record.get("fields", {})
        if fields:
            values = {k: v for k, v in values.items() if k in set(fields)}
        return result(
            {"id": record["id"], "createdTime": record.get("createdTime"), "fields": values}
        )


async def search_records(
    ctx: Context,
    *,
    query: Annotated[str, Field(min_length=1, max_length=500, description="words to find")],
    base_id: Annotated[str | None, Field(description="limit to one base")] = None,
    table: Annotated[str | None, Field(description="limit to one table (needs base_id)")] = None,
    fields: Annotated[
        list[str] | None,
        Field(description="search only these fields (substring match, through Airtable)"),
    ] = None,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
) -> CallToolResult:
    """Find records by text. Without `fields`: full-text search with typo tolerance over the
    mirrored records of the workspace (ranked, with highlighted snippets). With `fields`: a
    case-insensitive substring match in those fields of one table."""
    async with tool_call(ctx) as call:
        if fields:
            return await _field_search(
                call, query, base_id=base_id, table=table, fields=fields, limit=limit
            )
        found = await call.airtable.search(query, base_id=base_id, table=table, limit=limit)
        hits = [
            {
                "base_id": h.base_id,
                "table": h.table_name,
                "table_id": h.table_id,
                "record_id": h.record_id,
                "title": h.title,
                "snippet": h.snippet,
                "match": h.match,
            }
            for h in found.hits
        ]
        return result(
            {
                "query": query,
                "hits": hits,
                "count": len(hits),
                "truncated": len(hits) >= limit,
                "freshness": freshness(found.freshness),
            }
        )


async def _field_search(
    call: ToolCall,
    query: str,
    *,
    base_id: str | None,
    table: str | None,
    fields: list[str],
    limit: int,
) -> CallToolResult:
    if not base_id or not table:
        raise ToolError("searching chosen fields needs base_id and table")
    schema = await call.airtable.resolve_table(base_id, table)
    names = [(call.airtable.resolve_field(schema, name)).name for name in fields]
    needle = query.lower()
    formula = OR(*(FIND(needle, LOWER(FormulaField(name))) for name in names))
    page = await call.airtable.list_records(
        base_id, schema.id, formula=str(formula), page_size=min(limit, 100), max_records=limit
    )
    records = [compact_record(r) for r in page.records]
    return result(
        {
            "query": query,
            "fields": names,
            "records": records,
            "count": len(records),
            "truncated": bool(page.offset),
            "freshness": freshness(page.freshness),
        }
    )


class MetricIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: Literal["count", "sum", "avg", "min", "max", "count_distinct"]
    field: str | None = Field(default=None, description="field name; not needed for count")


class FilterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "contains", "empty", "not_empty"]
    value: Any = None


async def aggregate_records(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    metrics: Annotated[
        list[MetricIn],
        Field(
            min_length=1,
            description="e.g. [{'op': 'count'}, {'op': 'sum', 'field': 'Amount'}]",
        ),
    ],
    group_by: Annotated[list[str], Field(description="field names to group by")] = [],  # noqa: B006
    filters: Annotated[
        list[FilterIn], Field(description="e.g. [{'field': 'Stage', 'op': 'eq', 'value': 'Won'}]")
    ] = [],  # noqa: B006
    limit: Annotated[int, Field(ge=1, le=1000, description="groups returned")] = 100,
) -> CallToolResult:
    """Exact counts, sums, averages, minimums, maximums and distinct counts over a whole table
    (not a sample), optionally grouped by fields and filtered. Computed in the database over
    the mirror."""
    from pyairtable_platform.core.airtable.schemas import Filter, Metric

    async with tool_call(ctx) as call:
        answer = await call.airtable.aggregate(
            base_id,
            table,
            metrics=[Metric(op=m.op, field=m.field) for m in metrics],
            group_by=group_by,
            filters=[Filter(field=f.field, op=f.op, value=f.value) for f in filters],
            limit=limit,
        )
        return result(
            {
                "groups": [{"key": g.key, "values": g.values} for g in answer.groups],
                "group_count": len(answer.groups),
                "total_records": answer.total_records,
                "truncated": answer.truncated,
                "freshness": freshness(answer.freshness),
            }
        )


def register(server: MCPServer[Any]) -> None:
    server.add_tool(list_records, title="List records", annotations=READ)
    server.add_tool(get_record, title="Get a record", annotations=READ)
    server.add_tool(search_records, title="Search records", annotations=READ)
    server.add_tool(aggregate_records, title="Aggregate records", annotations=READ)
