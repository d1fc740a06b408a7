"""Analysis tools: data quality of a table, duplicate detection, CSV export (as a platform file)."""

from __future__ import annotations

import csv
import hashlib
import io
import statistics
import uuid
from pathlib import Path
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from pyairtable_platform.core.mcp import repository
from pyairtable_platform.core.mcp.context import ToolCall, result, tool_call
from pyairtable_platform.core.mcp.tools import ADDITIVE, READ
from pyairtable_platform.core.mcp.tools.discovery import BaseId, TableRef

PREVIEW_LINES = 6
GROUPS_SHOWN = 50


async def scan(
    call: ToolCall,
    base_id: str,
    table: str,
    *,
    limit: int,
    fields: list[str] | None = None,
    formula: str | None = None,
    view: str | None = None,
) -> tuple[list[dict[str, Any]], bool, int | None, Any]:
    """Up to ``limit`` records, page by page: (records, truncated, true total, freshness)."""
    records: list[dict[str, Any]] = []
    offset: str | None = None
    total: int | None = None
    fresh: Any = None
    while len(records) < limit:
        page = await call.airtable.list_records(
            base_id,
            table,
            fields=fields,
            formula=formula,
            view=view,
            page_size=100,
            offset=offset,
            max_records=limit,
        )
        records.extend(page.records)
        total, fresh, offset = page.total, page.freshness, page.offset
        if not offset:
            break
    return records[:limit], bool(offset) or len(records) > limit, total, fresh


def _is_empty(value: Any) -> bool:
    return value is None or value in ("", []) or value is False


async def analyze_table_data(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    sample_size: Annotated[
        int, Field(ge=1, le=100_000, description="records to analyse (capped by the server)")
    ] = 1000,
) -> CallToolResult:
    """Data quality of a table: per field the fill rate, text lengths, number ranges and
    averages, distinct select values; plus insights (sparse, empty and complete fields)."""
    async with tool_call(ctx) as call:
        schema = await call.airtable.resolve_table(base_id, table)
        limit = min(sample_size, call.runtime.settings.max_scan_records)
        records, truncated, total, fresh = await scan(call, base_id, schema.id, limit=limit)
        n = len(records)
        report: dict[str, Any] = {}
        insights: list[str] = []
        for field in schema.fields:
            values = [r.get("fields", {}).get(field.name) for r in records]
            filled = [v for v in values if not _is_empty(v)]
            stats: dict[str, Any] = {
                "type": field.type,
                "fill_rate": round(len(filled) / n, 3) if n else None,
            }
            numbers = [v for v in filled if isinstance(v, int | float) and not isinstance(v, bool)]
            texts = [v for v in filled if isinstance(v, str)]
            if numbers:
                stats.update(
                    min=min(numbers),
                    max=max(numbers),
                    avg=round(statistics.fmean(numbers), 4),
                )
            elif texts and field.type in ("singleSelect",):
                counts: dict[str, int] = {}
                for v in texts:
                    counts[v] = counts.get(v, 0) + 1
                stats["values"] = dict(sorted(counts.items(), key=lambda kv: -kv[1])[:20])
            elif texts:
                lengths = [len(v) for v in texts]
                stats.update(
                    min_length=min(lengths),
                    max_length=max(lengths),
                    avg_length=round(statistics.fmean(lengths), 1),
                    distinct=len(set(texts)),
                )
            report[field.name] = stats
            if n and not filled:
                insights.append(f"{field.name} is empty in every analysed record")
            elif n and len(filled) / n < 0.5:
                insights.append(
                    f"{field.name} is filled in only {len(filled) * 100 // n}% of records"
                )
            elif n and len(filled) == n:
                insights.append(f"{field.name} is always filled")
        return result(
            {
                "table": schema.name,
                "analysed_records": n,
                "total": total,
                "truncated": truncated,
                "fields": report,
                "insights": insights,
                "freshness": fresh,
            }
        )


def _key(value: Any) -> str:
    if isinstance(value, list):
        return "|".join(sorted(_key(v) for v in value))
    if isinstance(value, dict):
        return str(value.get("name") or value.get("id") or value)
    return " ".join(str(value).split()).lower() if value is not None else ""


async def find_duplicates(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    fields: Annotated[
        list[str],
        Field(min_length=1, description="fields whose values together identify a duplicate"),
    ],
    ignore_empty: Annotated[bool, Field(description="skip records with an empty key")] = True,
    max_records: Annotated[int, Field(ge=1, le=100_000)] = 5000,
) -> CallToolResult:
    """Groups of records with the same values in `fields` (trimmed, case-insensitive)."""
    async with tool_call(ctx) as call:
        schema = await call.airtable.resolve_table(base_id, table)
        names = [(call.airtable.resolve_field(schema, f)).name for f in fields]
        limit = min(max_records, call.runtime.settings.max_scan_records)
        records, truncated, total, fresh = await scan(
            call, base_id, schema.id, limit=limit, fields=names
        )
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for record in records:
            values = record.get("fields", {})
            key = tuple(_key(values.get(name)) for name in names)
            if ignore_empty and all(part == "" for part in key):
                continue
            groups.setdefault(key, []).append(record)
        dupes: list[dict[str, Any]] = [
            {
                "values": {name: members[0].get("fields", {}).get(name) for name in names},
                "count": len(members),
                "record_ids": [m["id"] for m in members],
            }
            for members in groups.values()
            if len(members) > 1
        ]
        dupes.sort(key=lambda g: -len(g["record_ids"]))
        return result(
            {
                "fields": names,
                "scanned_records": len(records),
                "total": total,
                "scan_truncated": truncated,
                "duplicate_groups": len(dupes),
                "duplicate_records": sum(len(g["record_ids"]) for g in dupes),
                "groups": dupes[:GROUPS_SHOWN],
                "groups_truncated": len(dupes) > GROUPS_SHOWN,
                "freshness": fresh,
            }
        )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return str(value.get("url") or value.get("name") or value.get("id") or value)
    return str(value)


async def export_table_csv(
    ctx: Context,
    *,
    base_id: BaseId,
    table: TableRef,
    fields: Annotated[list[str] | None, Field(description="columns; default all fields")] = None,
    view: str | None = None,
    formula: str | None = None,
    max_records: Annotated[int, Field(ge=1, le=100_000)] = 1000,
) -> CallToolResult:
    """Export records as CSV (columns: Record ID, the fields, Created Time), stored as a file of
    the workspace; answers the file id, its size and the first lines as a preview."""
    async with tool_call(ctx, write=True) as call:
        schema = await call.airtable.resolve_table(base_id, table)
        names = (
            [(call.airtable.resolve_field(schema, f)).name for f in fields]
            if fields
            else schema.field_names()
        )
        limit = min(max_records, call.runtime.settings.max_scan_records)
        records, truncated, total, fresh = await scan(
            call, base_id, schema.id, limit=limit, fields=names, formula=formula, view=view
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["Record ID", *names, "Created Time"])
        for record in records:
            values = record.get("fields", {})
            writer.writerow(
                [
                    record["id"],
                    *(_cell(values.get(n)) for n in names),
                    record.get("createdTime", ""),
                ]
            )
        content = buffer.getvalue().encode()
        file_id = uuid.uuid4()
        filename = f"{schema.name}.csv".replace("/", "-")
        directory = Path(call.runtime.settings.export_dir) / str(call.identity.workspace_id)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{file_id}.csv"
        path.write_bytes(content)
        await repository.insert_export_file(
            call.session,
            file_id=file_id,
            workspace_id=call.identity.workspace_id,  # type: ignore[arg-type]  # set for tools
            user_id=call.identity.user_id,
            filename=filename,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            path=str(path),
            metadata={"source": "export_table_csv", "base_id": base_id, "table_id": schema.id},
        )
        lines = content.decode().splitlines()
        return result(
            {
                "file_id": str(file_id),
                "filename": filename,
                "size_bytes": len(content),
                "rows": len(records),
                "total": total,
                "truncated": truncated,
                "preview": "\n".join(lines[:PREVIEW_LINES]),
                "freshness": fresh,
            }
        )


def register(server: MCPServer[Any]) -> None:
    server.add_tool(analyze_table_data, title="Analyse table data", annotations=READ)
    server.add_tool(find_duplicates, title="Find duplicates", annotations=READ)
    server.add_tool(export_table_csv, title="Export a table as CSV", annotations=ADDITIVE)
