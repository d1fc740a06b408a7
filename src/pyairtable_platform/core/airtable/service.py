"""All Airtable access of one identity in its workspace (docs/airtable.md, "Service layer").

Reads go to Airtable through the shared client (rate limiter, cache); search, aggregates,
true totals and linked-record expansion are answered from the mirror; writes go upstream,
then through to the mirror in the caller's transaction. Built per request or tool call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyairtable_platform.core.airtable.client import AirtableClient
from pyairtable_platform.core.airtable.exceptions import (
    AirtableError,
    AirtableNotFound,
    AirtableTokenInvalid,
    BaseNotFound,
    MirrorNotReady,
    SyncInProgress,
    TableNotFound,
    UnknownField,
)
from pyairtable_platform.core.airtable.schemas import (
    Freshness,
    RecordPage,
    TableSchema,
)
from pyairtable_platform.core.airtable.service_mirror import AirtableMirror
from pyairtable_platform.core.airtable.service_writes import AirtableWrites

MAX_EXPANDED = 100  # linked records expanded per record read


class AirtableService(AirtableWrites, AirtableMirror):
    """All Airtable access of one identity in its workspace. Built per request/tool call.

    Record reads live here; writes in :mod:`.service_writes`, mirror reads and sync in
    :mod:`.service_mirror`, what they share in :mod:`.service_base`."""

    # ----- record reads ----------------------------------------------------------------

    async def list_records(
        self,
        base_id: str,
        table: str,
        *,
        formula: str | None = None,
        sort: Sequence[str | dict[str, str]] | None = None,
        fields: Sequence[str] | None = None,
        view: str | None = None,
        page_size: int | None = None,
        offset: str | None = None,
        max_records: int | None = None,
    ) -> RecordPage:
        """One page of records (Airtable's options), with the mirror's exact total."""
        schema = await self.resolve_table(base_id, table)
        for name in fields or ():
            self.resolve_field(schema, name)
        for item in sort or ():
            name = item if isinstance(item, str) else item.get("field", "")
            self.resolve_field(schema, name.removeprefix("-"))
        client = await self._client_for(base_id)
        try:
            page = await client.list_records_page(
                base_id,
                schema.id,
                formula=formula or None,
                sort=sort,
                fields=fields,
                view=view,
                page_size=page_size,
                offset=offset,
                max_records=max_records,
            )
        except AirtableTokenInvalid as exc:
            await self._guard(base_id, exc)
            raise
        total = None
        table_row = next(
            (t for t in await self.mirror.tables(base_id) if t.table_id == schema.id), None
        )
        if not formula and not view and table_row is not None and table_row.last_synced_at:
            total = await self.mirror.count(base_id, schema.id)
        truncated = page.get("offset") is not None or (
            max_records is not None and total is not None and total > max_records
        )
        return RecordPage(
            records=page["records"],
            offset=page.get("offset"),
            total=total,
            truncated=truncated,
            freshness=Freshness(source="airtable"),
        )

    async def get_record(
        self, base_id: str, table: str, record_id: str, *, expand_links: bool = False
    ) -> dict[str, Any]:
        """One record; ``expand_links`` replaces link ids with ``{"id","name","fields"}``."""
        schema = await self.resolve_table(base_id, table)
        client = await self._client_for(base_id)
        record = await client.get_record(base_id, schema.id, record_id)
        if expand_links:
            record = await self._expand(client, base_id, schema, record)
        return record

    async def _expand(
        self, client: AirtableClient, base_id: str, schema: TableSchema, record: dict[str, Any]
    ) -> dict[str, Any]:
        links = {f.name: f for f in schema.fields if f.type == "multipleRecordLinks"}
        fields = dict(record.get("fields", {}))
        wanted: list[str] = []
        for name in links:
            value = fields.get(name)
            if isinstance(value, list):
                wanted.extend(v for v in value if isinstance(v, str))
        wanted = wanted[:MAX_EXPANDED]
        found = {r.record_id: r for r in await self.mirror.records_by_ids(base_id, wanted)}
        expanded: dict[str, dict[str, Any]] = {
            rid: {"id": rid, "name": r.primary_value, "fields": r.fields, "source": "mirror"}
            for rid, r in found.items()
        }
        for name, field in links.items():
            value = fields.get(name)
            if not isinstance(value, list):
                continue
            linked_table = str(field.options.get("linkedTableId", ""))
            items = []
            for rid in value:
                if rid not in expanded and linked_table and rid in wanted:
                    # Not mirrored yet: one upstream read (cached like any record read).
                    try:
                        other = await client.get_record(base_id, linked_table, rid)
                        expanded[rid] = {
                            "id": rid,
                            "name": None,
                            "fields": other.get("fields", {}),
                            "source": "airtable",
                        }
                    except AirtableNotFound:
                        expanded[rid] = {"id": rid, "name": None, "fields": {}, "missing": True}
                items.append(expanded.get(rid, {"id": rid}))
            fields[name] = items
        return {**record, "fields": fields}

    async def get_records_by_ids(
        self, base_id: str, table: str, ids: list[str]
    ) -> list[dict[str, Any]]:
        """Records by id from Airtable (through the cache, which every platform write
        invalidates); ids that do not exist are left out."""
        schema = await self.resolve_table(base_id, table)
        client = await self._client_for(base_id)
        out: list[dict[str, Any]] = []
        for start in range(0, len(ids), 50):
            chunk = ids[start : start + 50]
            formula = "OR(" + ",".join(f"RECORD_ID()='{i}'" for i in chunk) + ")"
            out.extend(await client.list_records(base_id, schema.id, formula=formula))
        order = {rid: n for n, rid in enumerate(ids)}
        return sorted(out, key=lambda r: order.get(r["id"], len(order)))


__all__ = [
    "AirtableError",
    "AirtableService",
    "BaseNotFound",
    "MirrorNotReady",
    "SyncInProgress",
    "TableNotFound",
    "UnknownField",
]
