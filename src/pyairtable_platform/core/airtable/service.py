"""All Airtable access of one identity in its workspace (docs/airtable.md, "Service layer").

Reads go to Airtable through the shared client (rate limiter, cache); search, aggregates,
true totals and linked-record expansion are answered from the mirror; writes go upstream,
then through to the mirror in the caller's transaction. Built per request or tool call.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.airtable.client import AirtableClient, WriteResult
from pyairtable_platform.core.airtable.connections import (
    ConnectionService,
    upstream_connection,
)
from pyairtable_platform.core.airtable.deps import AirtableDeps
from pyairtable_platform.core.airtable.exceptions import (
    AirtableBusy,
    AirtableError,
    AirtableNotFound,
    AirtableTokenInvalid,
    AirtableUnavailable,
)
from pyairtable_platform.core.airtable.repository import ConnectionRepository, ConnectionRow
from pyairtable_platform.core.airtable.schemas import (
    AggregateGroup,
    AggregateResult,
    BaseSchema,
    BaseSummary,
    Channel,
    FailedRecord,
    FieldSchema,
    Filter,
    Freshness,
    Metric,
    OtherHit,
    RecordHit,
    RecordPage,
    SearchResult,
    SyncStatus,
    TableSchema,
    ViewSchema,
    WriteOutcome,
)
from pyairtable_platform.core.mirror import aggregate as agg
from pyairtable_platform.core.mirror import search as msearch
from pyairtable_platform.core.mirror.repository import MirrorRepository, TableRow
from pyairtable_platform.core.mirror.service import MirrorService, SyncBusy
from pyairtable_platform.core.search.repository import SearchRepository
from pyairtable_platform.kit.auth import Identity
from pyairtable_platform.kit.db import unit_of_work
from pyairtable_platform.kit.errors import Conflict, NotFound, ValidationFailed

logger = logging.getLogger(__name__)

MAX_EXPANDED = 100  # linked records expanded per record read


class TableNotFound(NotFound):
    error = "table_not_found"


class BaseNotFound(NotFound):
    error = "base_not_found"


class UnknownField(ValidationFailed):
    error = "unknown_field"


class MirrorNotReady(Conflict):
    error = "mirror_not_ready"


class SyncInProgress(Conflict):
    error = "sync_in_progress"


def _age(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return round((datetime.now(UTC) - moment).total_seconds(), 3)


def mirror_freshness(moment: datetime | None) -> Freshness:
    return Freshness(source="mirror", synced_at=moment, age_seconds=_age(moment))


def _names(items: Sequence[str], limit: int = 60) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" … ({len(items)} in all)" if len(items) > limit else "")


def table_schema(raw: dict[str, Any]) -> TableSchema:
    fields = [
        FieldSchema(
            id=f["id"],
            name=f["name"],
            type=f.get("type", "singleLineText"),
            description=f.get("description"),
            options=f.get("options") or {},
        )
        for f in raw.get("fields", [])
    ]
    primary = raw.get("primaryFieldId")
    return TableSchema(
        id=raw["id"],
        name=raw["name"],
        description=raw.get("description"),
        primary_field_id=primary,
        primary_field_name=next((f.name for f in fields if f.id == primary), None),
        fields=fields,
        views=[
            ViewSchema(id=v["id"], name=v["name"], type=v.get("type", "grid"))
            for v in raw.get("views", [])
        ],
    )


def find_table(tables: Sequence[TableSchema], ref: str) -> TableSchema | None:
    for t in tables:
        if ref in (t.id, t.name):
            return t
    folded = ref.strip().casefold()
    matches = [t for t in tables if t.name.casefold() == folded]
    return matches[0] if len(matches) == 1 else None


class AirtableService:
    """All Airtable access of one identity in its workspace. Built per request/tool call."""

    def __init__(
        self,
        session: AsyncSession,
        identity: Identity,
        deps: AirtableDeps,
        *,
        channel: Channel = "api",
    ) -> None:
        if identity.workspace_id is None:
            raise ValidationFailed("no active workspace")
        self.session = session
        self.identity = identity
        self.workspace_id: uuid.UUID = identity.workspace_id
        self.deps = deps
        self.channel = channel
        self.connections = ConnectionService(session, deps)
        self.mirror = MirrorRepository(session)

    # ----- connections and clients -----------------------------------------------------

    async def _client(self, row: ConnectionRow) -> AirtableClient:
        return await self.deps.clients.get(upstream_connection(row, self.deps))

    async def _client_for(self, base_id: str) -> AirtableClient:
        cid = await ConnectionRepository(self.session).base_connection(base_id)
        if cid is None:
            await self.list_bases()
            cid = await ConnectionRepository(self.session).base_connection(base_id)
        if cid is None:
            known = [f"{b.name} ({b.base_id})" for b in await self.mirror.bases()]
            raise BaseNotFound(
                f"base {base_id!r} is not reachable through this workspace's Airtable "
                f"connections; bases: {_names(known) or 'none'}"
            )
        row = await self.connections.row(cid)
        return await self._client(row)

    async def _guard(self, row_or_base: str, exc: AirtableTokenInvalid) -> None:
        """Mark the connection of a rejected token invalid (in its own transaction: the
        request's is about to roll back with the error)."""
        cid = await ConnectionRepository(self.session).base_connection(row_or_base)
        if cid is None:
            return
        async with unit_of_work(self.deps.factory, workspace_id=self.workspace_id) as session:
            await ConnectionRepository(session).set_status(
                cid, "invalid", exc.detail[:500], verified=True
            )

    # ----- bases and schema ------------------------------------------------------------

    async def list_bases(self) -> list[BaseSummary]:
        """Every base of every active connection (and the mirror's view of each)."""
        out: list[BaseSummary] = []
        for row in await self.connections.active_rows():
            client = await self._client(row)
            try:
                bases = await client.list_bases()
            except AirtableTokenInvalid as exc:
                async with unit_of_work(
                    self.deps.factory, workspace_id=self.workspace_id
                ) as session:
                    await ConnectionRepository(session).set_status(
                        row.id, "invalid", exc.detail[:500], verified=True
                    )
                raise
            for b in bases:
                await self.mirror.upsert_base(row.id, b["id"], b["name"], b.get("permissionLevel"))
            mirrored = {m.base_id: m for m in await self.mirror.bases(row.id)}
            for b in bases:
                m = mirrored.get(b["id"])
                out.append(
                    BaseSummary(
                        id=b["id"],
                        name=b["name"],
                        permission_level=b.get("permissionLevel"),
                        connection_id=row.id,
                        sync_status=m.sync_status if m else "pending",
                        last_synced_at=m.last_synced_at if m else None,
                    )
                )
        return out

    async def get_schema(self, base_id: str) -> BaseSchema:
        """Tables, fields (id, name, type, options), views and primary field of a base."""
        client = await self._client_for(base_id)
        try:
            raw = await client.base_schema(base_id)
        except AirtableTokenInvalid as exc:
            await self._guard(base_id, exc)
            raise
        base = await self.mirror.base(base_id)
        return BaseSchema(
            id=base_id,
            name=base.name if base else None,
            tables=[table_schema(t) for t in raw.get("tables", [])],
        )

    async def resolve_table(self, base_id: str, table: str) -> TableSchema:
        """A table by id or name (a unique case-insensitive match too); 404 lists the valid
        names. Served from the mirror's schema when Airtable cannot be reached."""
        try:
            schema = await self.get_schema(base_id)
            tables = schema.tables
        except (AirtableUnavailable, AirtableBusy):
            tables = await self._mirror_tables(base_id)
            if not tables:
                raise
        found = find_table(tables, table)
        if found is None:
            raise TableNotFound(
                f"base {base_id} has no table {table!r}; tables are: "
                f"{_names([t.name for t in tables])}"
            )
        return found

    @staticmethod
    def resolve_field(table: TableSchema, field: str) -> FieldSchema:
        """A field by id or name; 422 lists the valid names."""
        for f in table.fields:
            if field in (f.id, f.name):
                return f
        folded = field.strip().casefold()
        matches = [f for f in table.fields if f.name.casefold() == folded]
        if len(matches) == 1:
            return matches[0]
        raise UnknownField(
            f"unknown field {field!r} in table {table.name!r}; fields are: "
            f"{_names(table.field_names())}"
        )

    async def _mirror_tables(self, base_id: str) -> list[TableSchema]:
        fields = await self.mirror.fields(base_id)
        out = []
        for t in await self.mirror.tables(base_id):
            own = [f for f in fields if f.table_id == t.table_id]
            out.append(
                TableSchema(
                    id=t.table_id,
                    name=t.name,
                    description=t.description,
                    primary_field_id=t.primary_field_id,
                    primary_field_name=next((f.name for f in own if f.is_primary), None),
                    fields=[
                        FieldSchema(
                            id=f.field_id,
                            name=f.name,
                            type=f.type,
                            description=f.description,
                            options=f.options,
                        )
                        for f in own
                    ],
                )
            )
        return out

    async def _mirror_table(self, base_id: str, table: str) -> tuple[TableSchema, TableRow]:
        """A table as the mirror holds it (for search and aggregates: no Airtable needed)."""
        base = await self.mirror.base(base_id)
        if base is None:
            known = [f"{b.name} ({b.base_id})" for b in await self.mirror.bases()]
            raise BaseNotFound(
                f"base {base_id!r} is not mirrored in this workspace; mirrored bases: "
                f"{_names(known) or 'none'}"
            )
        tables = await self._mirror_tables(base_id)
        found = find_table(tables, table)
        if found is None:
            if not tables:
                raise MirrorNotReady(
                    f"base {base_id} has not been synced yet; start one with "
                    f"POST /api/v1/airtable/bases/{base_id}/sync"
                )
            raise TableNotFound(
                f"base {base_id} has no table {table!r}; tables are: "
                f"{_names([t.name for t in tables])}"
            )
        row = next(t for t in await self.mirror.tables(base_id) if t.table_id == found.id)
        return found, row

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

    # ----- record writes ---------------------------------------------------------------

    @staticmethod
    def _outcome(items: list[Any], result: WriteResult) -> WriteOutcome:
        positions: dict[int, list[int]] = {}
        for n, item in enumerate(items):
            positions.setdefault(id(item), []).append(n)

        def where(item: Any) -> int:
            queue = positions.get(id(item))
            return queue.pop(0) if queue else -1

        def rid(item: Any) -> str | None:
            if isinstance(item, str):
                return item
            return item.get("id") if isinstance(item, dict) else None

        failed = [
            FailedRecord(
                index=where(item), id=rid(item), error=f.error.error, detail=f.error.detail
            )
            for f in result.failures
            for item in f.records
        ]
        failed += [
            FailedRecord(
                index=where(item),
                id=rid(item),
                error="not_attempted",
                detail="not sent: an earlier part of this write failed",
            )
            for item in result.not_attempted
        ]
        return WriteOutcome(
            succeeded=result.records,
            failed=sorted(failed, key=lambda f: f.index),
            created_ids=result.created_record_ids,
            updated_ids=result.updated_record_ids,
        )

    async def _write_through(
        self,
        base_id: str,
        table_id: str,
        records: Sequence[dict[str, Any]] = (),
        deleted: Sequence[str] = (),
    ) -> None:
        await MirrorService.write_through(
            self.session, base_id, table_id, records=records, deleted=deleted
        )

    async def create_records(
        self, base_id: str, table: str, records: list[dict[str, Any]], *, typecast: bool = False
    ) -> WriteOutcome:
        """Create any number of records (``{"fields": {...}}`` or plain field dicts)."""
        schema = await self.resolve_table(base_id, table)
        items = [r["fields"] if set(r) == {"fields"} else r for r in records]
        client = await self._client_for(base_id)
        result = await client.create_records(base_id, schema.id, items, typecast=typecast)
        await self._write_through(base_id, schema.id, result.records)
        return self._outcome(items, result)

    async def update_records(
        self,
        base_id: str,
        table: str,
        records: list[dict[str, Any]],
        *,
        replace: bool = False,
        typecast: bool = False,
    ) -> WriteOutcome:
        """Update records (``{"id","fields"}``); ``replace`` clears fields not given (PUT)."""
        schema = await self.resolve_table(base_id, table)
        items = [{"id": r["id"], "fields": r.get("fields", {})} for r in records]
        client = await self._client_for(base_id)
        result = await client.update_records(
            base_id, schema.id, items, replace=replace, typecast=typecast
        )
        await self._write_through(base_id, schema.id, result.records)
        return self._outcome(items, result)

    async def upsert_records(
        self,
        base_id: str,
        table: str,
        records: list[dict[str, Any]],
        merge_on: list[str],
        *,
        replace: bool = False,
        typecast: bool = False,
    ) -> WriteOutcome:
        """Update the records matching ``merge_on`` fields, create the others."""
        schema = await self.resolve_table(base_id, table)
        keys = [self.resolve_field(schema, name).name for name in merge_on]
        items = [r if "fields" in r else {"fields": r} for r in records]
        client = await self._client_for(base_id)
        result = await client.upsert_records(
            base_id, schema.id, items, key_fields=keys, replace=replace, typecast=typecast
        )
        await self._write_through(base_id, schema.id, result.records)
        return self._outcome(items, result)

    async def delete_records(self, base_id: str, table: str, ids: list[str]) -> WriteOutcome:
        """Delete records by id, any number."""
        schema = await self.resolve_table(base_id, table)
        items = list(ids)
        client = await self._client_for(base_id)
        result = await client.delete_records(base_id, schema.id, items)
        done = [r["id"] for r in result.records if isinstance(r, dict) and "id" in r]
        await self._write_through(base_id, schema.id, deleted=done)
        return self._outcome(items, result)

    async def add_attachments(
        self,
        base_id: str,
        table: str,
        record_id: str,
        field: str,
        attachments: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """Append attachments (by URL) to an attachment field, keeping the existing ones."""
        schema = await self.resolve_table(base_id, table)
        target = self.resolve_field(schema, field)
        if target.type != "multipleAttachments":
            raise ValidationFailed(
                f"field {target.name!r} is {target.type}, not an attachment field"
            )
        client = await self._client_for(base_id)
        await client.invalidate_cache(base_id)
        current = await client.get_record(base_id, schema.id, record_id)
        # Existing attachments are kept by id; the url goes along for servers that want one.
        kept = [
            {k: a[k] for k in ("id", "url", "filename") if k in a}
            for a in current.get("fields", {}).get(target.name, [])
            if "id" in a
        ]
        new = [{k: v for k, v in a.items() if v is not None} for a in attachments]
        result = await client.update_records(
            base_id, schema.id, [{"id": record_id, "fields": {target.name: kept + new}}]
        )
        if result.failures:
            raise result.failures[0].error
        await self._write_through(base_id, schema.id, result.records)
        return result.records[0]

    async def list_comments(self, base_id: str, table: str, record_id: str) -> list[Any]:
        """Comments of a record."""
        schema = await self.resolve_table(base_id, table)
        client = await self._client_for(base_id)
        return await client.list_comments(base_id, schema.id, record_id)

    async def create_comment(
        self,
        base_id: str,
        table: str,
        record_id: str,
        text: str,
        *,
        parent_comment_id: str | None = None,
    ) -> dict[str, Any]:
        """Comment on a record."""
        schema = await self.resolve_table(base_id, table)
        client = await self._client_for(base_id)
        return await client.add_comment(
            base_id, schema.id, record_id, text, parent_comment_id=parent_comment_id
        )

    # ----- schema writes ---------------------------------------------------------------

    async def _refresh_mirror_schema(self, client: AirtableClient, base_id: str) -> None:
        if await self.mirror.base(base_id) is None:
            return
        raw = await client.base_schema(base_id)
        renames = await self.mirror.replace_schema(base_id, list(raw.get("tables", [])))
        for table_id, old, new in renames:
            await self.mirror.rename_field_key(base_id, table_id, old, new)

    async def create_table(
        self,
        base_id: str,
        name: str,
        fields: list[dict[str, Any]],
        *,
        description: str | None = None,
    ) -> TableSchema:
        """Create a table; its first field is the primary field."""
        client = await self._client_for(base_id)
        raw = await client.create_table(base_id, name, fields, description=description)
        await self._refresh_mirror_schema(client, base_id)
        return table_schema(raw)

    async def update_table(
        self, base_id: str, table: str, *, name: str | None = None, description: str | None = None
    ) -> TableSchema:
        """Rename a table or change its description."""
        schema = await self.resolve_table(base_id, table)
        client = await self._client_for(base_id)
        raw = await client.update_table(base_id, schema.id, name=name, description=description)
        await self._refresh_mirror_schema(client, base_id)
        return (
            table_schema(raw) if "fields" in raw else await self.resolve_table(base_id, raw["id"])
        )

    async def create_field(
        self,
        base_id: str,
        table: str,
        name: str,
        type: str,
        *,
        description: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> FieldSchema:
        """Add a field to a table."""
        schema = await self.resolve_table(base_id, table)
        client = await self._client_for(base_id)
        raw = await client.create_field(
            base_id, schema.id, name, type, description=description, options=options
        )
        await self._refresh_mirror_schema(client, base_id)
        return FieldSchema(
            id=raw["id"],
            name=raw["name"],
            type=raw.get("type", type),
            description=raw.get("description"),
            options=raw.get("options") or {},
        )

    async def update_field(
        self,
        base_id: str,
        table: str,
        field: str,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> FieldSchema:
        """Rename a field or change its description."""
        schema = await self.resolve_table(base_id, table)
        target = self.resolve_field(schema, field)
        client = await self._client_for(base_id)
        raw = await client.update_field(
            base_id, schema.id, target.id, name=name, description=description
        )
        await self._refresh_mirror_schema(client, base_id)
        return FieldSchema(
            id=raw["id"],
            name=raw["name"],
            type=raw.get("type", target.type),
            description=raw.get("description"),
            options=raw.get("options") or target.options,
        )

    async def invalidate_cache(self, base_id: str | None = None) -> None:
        """Forget what the shared cache holds for a base, or for every connection."""
        if base_id is not None:
            client = await self._client_for(base_id)
            await client.invalidate_cache(base_id)
            return
        for row in await self.connections.active_rows():
            await (await self._client(row)).invalidate_cache(None)

    # ----- mirror: aggregates, search, sync ----------------------------------------------

    async def aggregate(
        self,
        base_id: str,
        table: str,
        *,
        metrics: list[Metric],
        group_by: Sequence[str] = (),
        filters: Sequence[Filter] = (),
        limit: int = 1000,
    ) -> AggregateResult:
        """Exact aggregates over the whole mirrored table (no Airtable request)."""
        schema, row = await self._mirror_table(base_id, table)
        if row.last_synced_at is None:
            raise MirrorNotReady(
                f"table {schema.name!r} is still being mirrored (its first sync has not "
                "finished); try again shortly or follow GET "
                f"/api/v1/airtable/bases/{base_id}/sync"
            )

        def info(name: str) -> agg.FieldInfo:
            f = self.resolve_field(schema, name)
            return agg.FieldInfo(f.name, f.type, f.options)

        metric_fields = {m.field: info(m.field) for m in metrics if m.field}
        try:
            query = agg.build(
                base_id=base_id,
                table_id=schema.id,
                metrics=metrics,
                group_by=[info(g) for g in group_by],
                filters=[(f, info(f.field)) for f in filters],
                metric_fields={k: v for k, v in metric_fields.items() if k},
                limit=limit,
            )
        except ValueError as exc:
            raise ValidationFailed(str(exc)) from None
        rows = await self.mirror.fetch(query.sql, query.params)
        truncated = len(rows) > limit if group_by else False
        rows = rows[:limit]
        groups = []
        for r in rows:
            key = {label: r[f"g{j}"] for j, label in enumerate(query.group_labels)}
            values = {label: _plain(r[f"m{i}"]) for i, label in enumerate(query.labels)}
            groups.append(AggregateGroup(key=key, values=values))
        if group_by and not truncated:
            total = sum(int(r["n"]) for r in rows)
        elif group_by:
            total = int((await self.mirror.fetch(query.count_sql, query.params))[0]["n"])
        else:
            total = int(rows[0]["n"]) if rows else 0
        return AggregateResult(
            groups=groups,
            total_records=total,
            truncated=truncated,
            freshness=mirror_freshness(row.last_synced_at),
        )

    async def search(
        self,
        query: str,
        *,
        base_id: str | None = None,
        table: str | None = None,
        limit: int = 20,
        include_other: bool = False,
    ) -> SearchResult:
        """Ranked full-text search over mirrored records, fuzzy when nothing matches."""
        q = query.strip()[: msearch.MAX_QUERY_LENGTH]
        if not q:
            raise ValidationFailed("q: give some words to search for")
        table_id = None
        if table is not None:
            if base_id is None:
                raise ValidationFailed("table: give base too (a table name is per base)")
            table_id = (await self._mirror_table(base_id, table))[0].id
        elif base_id is not None and await self.mirror.base(base_id) is None:
            await self._mirror_table(base_id, "")  # raises the listing 404
        params = {
            "q": q,
            "opts": msearch.HEADLINE_OPTIONS,
            "limit": limit,
            "candidates": msearch.RANK_CANDIDATES,
            "base_id": base_id,
            "table_id": table_id,
        }
        rows = await self.mirror.fetch(msearch.FULLTEXT_SQL, params)
        match: Literal["fulltext", "fuzzy"] = "fulltext"
        if not rows:
            match = "fuzzy"
            await self.mirror.set_fuzzy_threshold(msearch.FUZZY_THRESHOLD)
            alternatives = []
            for word in msearch.QUERY_WORD.findall(q.lower())[: msearch.MAX_CORRECTED_WORDS]:
                similar = await self.mirror.similar_words(word)
                if similar:
                    alternatives.append(similar)
            if alternatives:
                tsq = msearch.tsquery_of(alternatives)
                rows = await self.mirror.fetch(msearch.CORRECTED_SQL, {**params, "tsq": tsq})
            if not rows:
                rows = await self.mirror.fetch(msearch.FUZZY_SQL, params)
        hits = []
        for r in rows:
            snippet = r.get("snippet")
            if snippet is None:
                text_ = f"{r['primary_value']} — {r['searchable_text']}"
                snippet = msearch.fuzzy_snippet(q, text_)
            hits.append(
                RecordHit(
                    base_id=r["base_id"],
                    table_id=r["table_id"],
                    table_name=r["table_name"],
                    record_id=r["record_id"],
                    title=r["primary_value"],
                    snippet=snippet,
                    rank=float(r["rank"]),
                    match=match,
                    link=f"https://airtable.com/{r['base_id']}/{r['table_id']}/{r['record_id']}",
                    api_path=(
                        f"/api/v1/airtable/bases/{r['base_id']}/tables/{r['table_id']}"
                        f"/records/{r['record_id']}"
                    ),
                    synced_at=r["synced_at"],
                )
            )
        other: list[OtherHit] = []
        if include_other and base_id is None:
            repo = SearchRepository(self.session)
            for hit in await repo.search(q, sources=("messages", "files"), limit=limit):
                other.append(
                    OtherHit(
                        source=hit.source,
                        id=hit.id,
                        title=hit.title,
                        snippet=hit.snippet,
                        rank=hit.rank,
                        match=hit.match,
                        ref=hit.ref,
                    )
                )
        oldest = min((h.synced_at for h in hits if h.synced_at), default=None)
        return SearchResult(query=q, hits=hits, other=other, freshness=mirror_freshness(oldest))

    async def _registered(self, base_id: str) -> AirtableClient:
        """The base's client, its ``airtable_bases`` row committed: a sync works in
        transactions of its own, which must see the row."""
        async with unit_of_work(
            self.deps.factory, user_id=self.identity.user_id, workspace_id=self.workspace_id
        ) as session:
            other = AirtableService(session, self.identity, self.deps, channel=self.channel)
            return await other._client_for(base_id)

    def _mirror_service(self) -> MirrorService:
        return MirrorService(
            self.deps.factory, self.deps.redis, self.deps.mirror, self.workspace_id
        )

    async def sync_status(self, base_id: str) -> SyncStatus:
        """Per-table progress and freshness of a base's mirror."""
        status = await self._mirror_service().status(self.session, base_id)
        if status is None:
            await self._client_for(base_id)  # registers a reachable base, else 404
            status = await self._mirror_service().status(self.session, base_id)
        assert status is not None
        return status

    async def sync(self, base_id: str, *, full: bool = False) -> SyncStatus:
        """Sync now (in transactions of its own; progress is visible while it runs)."""
        client = await self._registered(base_id)
        try:
            await self._mirror_service().sync(client, base_id, full=full)
        except SyncBusy:
            raise SyncInProgress(
                f"base {base_id} is being synced right now; follow its progress with GET "
                f"/api/v1/airtable/bases/{base_id}/sync"
            ) from None
        return await self.sync_status(base_id)

    async def enqueue_sync(self, base_id: str, *, full: bool = False) -> SyncStatus:
        """Queue a durable sync job (procrastinate); answers the status at once."""
        from pyairtable_platform.core.mirror.tasks import defer_sync

        await self._registered(base_id)
        job_id = await defer_sync(self.deps, self.workspace_id, base_id, full=full)
        status = await self.sync_status(base_id)
        status.job_id = job_id
        return status


def _plain(value: Any) -> Any:
    """numeric → int or float for JSON (exact for integers)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


__all__ = ["AirtableError", "AirtableService"]
