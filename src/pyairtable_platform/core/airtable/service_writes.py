"""Writes of the Airtable service: records (any number, per-record outcomes, written through
to the mirror in the caller's transaction), comments, attachments, tables and fields, and
cache invalidation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyairtable_platform.core.airtable.client import AirtableClient, WriteResult
from pyairtable_platform.core.airtable.schemas import (
    FailedRecord,
    FieldSchema,
    TableSchema,
    WriteOutcome,
)
from pyairtable_platform.core.airtable.service_base import (
    AirtableServiceBase,
    table_schema,
)
from pyairtable_platform.core.mirror.service import MirrorService
from pyairtable_platform.kit.errors import ValidationFailed


class AirtableWrites(AirtableServiceBase):
    """Record, comment, attachment and schema writes (see :class:`AirtableService`)."""

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
