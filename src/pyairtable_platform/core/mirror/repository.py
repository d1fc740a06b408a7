"""All SQL of the mirror: bases, tables, fields, records, search and aggregates.

Queries run in the caller's RLS context (``app_current_workspace_id()``); the explicit
``workspace_id`` predicates repeat the policy so the planner uses the indexes leading with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

WS = "app_current_workspace_id()"


@dataclass(frozen=True)
class BaseRow:
    base_id: str
    connection_id: uuid.UUID
    name: str
    permission_level: str | None
    sync_status: str
    sync_error: str | None
    sync_cursor: datetime | None
    last_synced_at: datetime | None
    last_reconciled_at: datetime | None


@dataclass(frozen=True)
class TableRow:
    table_id: str
    name: str
    description: str | None
    primary_field_id: str | None
    position: int
    last_synced_at: datetime | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class FieldRow:
    table_id: str
    field_id: str
    name: str
    type: str
    description: str | None
    options: dict[str, Any]
    is_primary: bool


@dataclass(frozen=True)
class MirroredRecord:
    table_id: str
    record_id: str
    fields: dict[str, Any]
    primary_value: str
    created_time: datetime | None


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class MirrorRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ----- bases -----------------------------------------------------------------------

    async def upsert_base(
        self, connection_id: uuid.UUID, base_id: str, name: str, permission_level: str | None
    ) -> None:
        await self.session.execute(
            text(
                f"INSERT INTO airtable_bases (workspace_id, connection_id, base_id, name,"
                f" permission_level) VALUES ({WS}, :cid, :bid, :name, :perm)"
                " ON CONFLICT (workspace_id, base_id) DO UPDATE SET"
                " connection_id = EXCLUDED.connection_id, name = EXCLUDED.name,"
                " permission_level = EXCLUDED.permission_level"
                " WHERE (airtable_bases.connection_id, airtable_bases.name,"
                " airtable_bases.permission_level) IS DISTINCT FROM"
                " (EXCLUDED.connection_id, EXCLUDED.name, EXCLUDED.permission_level)"
            ),
            {"cid": connection_id, "bid": base_id, "name": name, "perm": permission_level},
        )

    async def bases(self, connection_id: uuid.UUID | None = None) -> list[BaseRow]:
        rows = await self.session.execute(
            text(
                "SELECT base_id, connection_id, name, permission_level, sync_status, sync_error,"
                " sync_cursor, last_synced_at, last_reconciled_at FROM airtable_bases"
                f" WHERE workspace_id = {WS}"
                " AND (CAST(:cid AS uuid) IS NULL OR connection_id = :cid) ORDER BY name"
            ),
            {"cid": connection_id},
        )
        return [BaseRow(**dict(r._mapping)) for r in rows]

    async def base(self, base_id: str) -> BaseRow | None:
        row = (
            await self.session.execute(
                text(
                    "SELECT base_id, connection_id, name, permission_level, sync_status,"
                    " sync_error, sync_cursor, last_synced_at, last_reconciled_at"
                    f" FROM airtable_bases WHERE workspace_id = {WS} AND base_id = :b"
                ),
                {"b": base_id},
            )
        ).first()
        return BaseRow(**dict(row._mapping)) if row else None

    async def remove_bases_except(self, connection_id: uuid.UUID, keep: Sequence[str]) -> None:
        """Bases the connection no longer sees leave the mirror (with their records)."""
        await self.session.execute(
            text(
                f"DELETE FROM airtable_bases WHERE workspace_id = {WS}"
                " AND connection_id = :cid AND NOT (base_id = ANY(:keep))"
            ),
            {"cid": connection_id, "keep": list(keep)},
        )

    async def set_base_status(
        self,
        base_id: str,
        status: str,
        *,
        error: str | None = None,
        synced_at: datetime | None = None,
        reconciled_at: datetime | None = None,
        cursor: datetime | None = None,
    ) -> None:
        await self.session.execute(
            text(
                "UPDATE airtable_bases SET sync_status = :status, sync_error = :error,"
                " last_synced_at = coalesce(:synced, last_synced_at),"
                " last_reconciled_at = coalesce(:reconciled, last_reconciled_at),"
                " sync_cursor = coalesce(:cursor, sync_cursor)"
                f" WHERE workspace_id = {WS} AND base_id = :b"
            ),
            {
                "b": base_id,
                "status": status,
                "error": error,
                "synced": synced_at,
                "reconciled": reconciled_at,
                "cursor": cursor,
            },
        )

    # ----- schema ----------------------------------------------------------------------

    async def tables(self, base_id: str) -> list[TableRow]:
        rows = await self.session.execute(
            text(
                "SELECT table_id, name, description, primary_field_id, position, last_synced_at,"
                f" metadata FROM airtable_tables WHERE workspace_id = {WS} AND base_id = :b"
                " ORDER BY position"
            ),
            {"b": base_id},
        )
        return [TableRow(**dict(r._mapping)) for r in rows]

    async def fields(self, base_id: str, table_id: str | None = None) -> list[FieldRow]:
        rows = await self.session.execute(
            text(
                "SELECT table_id, field_id, name, type, description, options, is_primary"
                f" FROM airtable_fields WHERE workspace_id = {WS} AND base_id = :b"
                " AND (CAST(:t AS text) IS NULL OR table_id = :t) ORDER BY table_id, position"
            ),
            {"b": base_id, "t": table_id},
        )
        return [FieldRow(**dict(r._mapping)) for r in rows]

    async def replace_schema(
        self, base_id: str, tables: list[dict[str, Any]]
    ) -> list[tuple[str, str, str]]:
        """Store Airtable's table list for a base; returns ``(table, old, new)`` renames of
        fields, so the caller can move record keys (records are keyed by field name)."""
        old = {(f.table_id, f.field_id): f.name for f in await self.fields(base_id)}
        renames: list[tuple[str, str, str]] = []
        table_ids = [t["id"] for t in tables]
        await self.session.execute(
            text(
                f"DELETE FROM airtable_tables WHERE workspace_id = {WS} AND base_id = :b"
                " AND NOT (table_id = ANY(:ids))"
            ),
            {"b": base_id, "ids": table_ids},
        )
        for position, table in enumerate(tables):
            await self.session.execute(
                text(
                    "INSERT INTO airtable_tables (workspace_id, base_id, table_id, name,"
                    f" description, primary_field_id, position) VALUES ({WS}, :b, :t, :name,"
                    " :desc, :pf, :pos) ON CONFLICT (workspace_id, base_id, table_id) DO UPDATE"
                    " SET name = EXCLUDED.name, description = EXCLUDED.description,"
                    " primary_field_id = EXCLUDED.primary_field_id, position = EXCLUDED.position"
                ),
                {
                    "b": base_id,
                    "t": table["id"],
                    "name": table["name"],
                    "desc": table.get("description"),
                    "pf": table.get("primaryFieldId"),
                    "pos": position,
                },
            )
            fields = table.get("fields", [])
            await self.session.execute(
                text(
                    f"DELETE FROM airtable_fields WHERE workspace_id = {WS} AND base_id = :b"
                    " AND table_id = :t AND NOT (field_id = ANY(:ids))"
                ),
                {"b": base_id, "t": table["id"], "ids": [f["id"] for f in fields]},
            )
            rows = [
                {
                    "field_id": f["id"],
                    "name": f["name"],
                    "type": f.get("type", "singleLineText"),
                    "description": f.get("description"),
                    "options": f.get("options") or {},
                    "is_primary": f["id"] == table.get("primaryFieldId"),
                    "position": i,
                }
                for i, f in enumerate(fields)
            ]
            for f in fields:
                before = old.get((table["id"], f["id"]))
                if before is not None and before != f["name"]:
                    renames.append((table["id"], before, f["name"]))
            if rows:
                await self.session.execute(
                    text(
                        "INSERT INTO airtable_fields (workspace_id, base_id, table_id, field_id,"
                        " name, type, description, options, is_primary, position)"
                        f" SELECT {WS}, :b, :t, r.field_id, r.name, r.type, r.description,"
                        " r.options, r.is_primary, r.position FROM jsonb_to_recordset("
                        "CAST(:rows AS jsonb)) AS r(field_id text, name text, type text,"
                        " description text, options jsonb, is_primary boolean, position int)"
                        " ON CONFLICT (workspace_id, base_id, table_id, field_id) DO UPDATE SET"
                        " name = EXCLUDED.name, type = EXCLUDED.type,"
                        " description = EXCLUDED.description, options = EXCLUDED.options,"
                        " is_primary = EXCLUDED.is_primary, position = EXCLUDED.position"
                    ),
                    {"b": base_id, "t": table["id"], "rows": _json(rows)},
                )
        return renames

    async def rename_field_key(self, base_id: str, table_id: str, old: str, new: str) -> None:
        await self.session.execute(
            text(
                "UPDATE airtable_records SET fields = (fields - CAST(:old AS text))"
                " || jsonb_build_object(CAST(:new AS text), fields -> CAST(:old AS text))"
                f" WHERE workspace_id = {WS} AND base_id = :b AND table_id = :t"
                " AND fields ? CAST(:old AS text)"
            ),
            {"b": base_id, "t": table_id, "old": old, "new": new},
        )

    async def set_table_progress(
        self, base_id: str, table_id: str, progress: dict[str, Any], *, synced: bool = False
    ) -> None:
        await self.session.execute(
            text(
                "UPDATE airtable_tables SET metadata = jsonb_set(metadata, '{sync}',"
                " CAST(:p AS jsonb)),"
                " last_synced_at = CASE WHEN :synced THEN now() ELSE last_synced_at END"
                f" WHERE workspace_id = {WS} AND base_id = :b AND table_id = :t"
            ),
            {"b": base_id, "t": table_id, "p": _json(progress), "synced": synced},
        )

    # ----- records ---------------------------------------------------------------------

    async def upsert_records(self, base_id: str, table_id: str, rows: list[dict[str, Any]]) -> None:
        """Rows: ``record_id, fields, primary_value, searchable_text, created_time``."""
        if not rows:
            return
        await self.session.execute(
            text(
                "INSERT INTO airtable_records (workspace_id, base_id, table_id, record_id,"
                " fields, primary_value, searchable_text, airtable_created_time,"
                f" last_modified_time, synced_at) SELECT {WS}, :b, :t, r.record_id, r.fields,"
                " r.primary_value, r.searchable_text, r.created_time, now(), now()"
                " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(record_id text,"
                " fields jsonb, primary_value text, searchable_text text,"
                " created_time timestamptz)"
                " ON CONFLICT (workspace_id, base_id, table_id, record_id) DO UPDATE SET"
                " fields = EXCLUDED.fields, primary_value = EXCLUDED.primary_value,"
                " searchable_text = EXCLUDED.searchable_text,"
                " airtable_created_time = EXCLUDED.airtable_created_time,"
                " last_modified_time = CASE WHEN airtable_records.fields = EXCLUDED.fields"
                " THEN airtable_records.last_modified_time ELSE now() END,"
                " synced_at = now(), deleted_at = NULL"
            ),
            {"b": base_id, "t": table_id, "rows": _json(rows)},
        )
        await self.add_words(rows)

    async def add_words(self, rows: list[dict[str, Any]]) -> None:
        """Remember the words of these records for typo correction (search). Numbers are
        left out: nobody misspells one on purpose, and ids would swell the vocabulary."""
        await self.session.execute(
            text(
                f"INSERT INTO airtable_search_words (workspace_id, word) SELECT DISTINCT {WS}, w"
                " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(primary_value text,"
                " searchable_text text), unnest(tsvector_to_array(to_tsvector('simple',"
                " r.primary_value || ' ' || r.searchable_text))) AS w"
                " WHERE length(w) BETWEEN 3 AND 40 AND w !~ '^[0-9.,-]+$'"
                " ON CONFLICT DO NOTHING"
            ),
            {
                "rows": _json(
                    [{k: r[k] for k in ("primary_value", "searchable_text")} for r in rows]
                )
            },
        )

    async def similar_words(self, word: str, limit: int = 5) -> list[str]:
        """Known words closest to ``word`` (trigram similarity), best first."""
        rows = await self.session.execute(
            text(
                "SELECT word FROM airtable_search_words"
                f" WHERE workspace_id = {WS} AND word % :w"
                " ORDER BY similarity(word, :w) DESC, word LIMIT :limit"
            ),
            {"w": word, "limit": limit},
        )
        return [r.word for r in rows]

    async def delete_records(self, base_id: str, table_id: str, ids: Sequence[str]) -> None:
        await self.session.execute(
            text(
                f"DELETE FROM airtable_records WHERE workspace_id = {WS} AND base_id = :b"
                " AND table_id = :t AND record_id = ANY(:ids)"
            ),
            {"b": base_id, "t": table_id, "ids": list(ids)},
        )

    async def delete_unseen(self, base_id: str, table_id: str, since: datetime) -> int:
        """Records a full pass did not see (deleted upstream)."""
        result = await self.session.execute(
            text(
                f"DELETE FROM airtable_records WHERE workspace_id = {WS} AND base_id = :b"
                " AND table_id = :t AND synced_at < :since RETURNING 1"
            ),
            {"b": base_id, "t": table_id, "since": since},
        )
        return len(result.all())

    async def primary_values(self, base_id: str, ids: Sequence[str]) -> dict[str, str]:
        if not ids:
            return {}
        rows = await self.session.execute(
            text(
                "SELECT record_id, primary_value FROM airtable_records"
                f" WHERE workspace_id = {WS} AND base_id = :b AND record_id = ANY(:ids)"
            ),
            {"b": base_id, "ids": list(ids)},
        )
        return {r.record_id: r.primary_value for r in rows}

    async def records_by_ids(self, base_id: str, ids: Sequence[str]) -> list[MirroredRecord]:
        if not ids:
            return []
        rows = await self.session.execute(
            text(
                "SELECT table_id, record_id, fields, primary_value,"
                " airtable_created_time AS created_time FROM airtable_records"
                f" WHERE workspace_id = {WS} AND base_id = :b AND record_id = ANY(:ids)"
            ),
            {"b": base_id, "ids": list(ids)},
        )
        return [MirroredRecord(**dict(r._mapping)) for r in rows]

    async def table_records(
        self, base_id: str, table_id: str, *, after: str = "", limit: int = 1000
    ) -> list[MirroredRecord]:
        """A page of a table's records in record-id order (keyset pagination)."""
        rows = await self.session.execute(
            text(
                "SELECT table_id, record_id, fields, primary_value,"
                " airtable_created_time AS created_time FROM airtable_records"
                f" WHERE workspace_id = {WS} AND base_id = :b AND table_id = :t"
                " AND record_id > :after ORDER BY record_id LIMIT :limit"
            ),
            {"b": base_id, "t": table_id, "after": after, "limit": limit},
        )
        return [MirroredRecord(**dict(r._mapping)) for r in rows]

    async def set_searchable(self, base_id: str, table_id: str, rows: list[dict[str, str]]) -> None:
        if not rows:
            return
        await self.session.execute(
            text(
                "UPDATE airtable_records r SET searchable_text = u.searchable_text"
                " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS u(record_id text,"
                " searchable_text text)"
                f" WHERE r.workspace_id = {WS} AND r.base_id = :b AND r.table_id = :t"
                " AND r.record_id = u.record_id AND r.searchable_text <> u.searchable_text"
            ),
            {"b": base_id, "t": table_id, "rows": _json(rows)},
        )

    async def counts(self, base_id: str) -> dict[str, int]:
        rows = await self.session.execute(
            text(
                "SELECT table_id, count(*) AS n FROM airtable_records"
                f" WHERE workspace_id = {WS} AND base_id = :b GROUP BY table_id"
            ),
            {"b": base_id},
        )
        return {r.table_id: int(r.n) for r in rows}

    async def count(self, base_id: str, table_id: str) -> int:
        value = (
            await self.session.execute(
                text(
                    "SELECT count(*) FROM airtable_records"
                    f" WHERE workspace_id = {WS} AND base_id = :b AND table_id = :t"
                ),
                {"b": base_id, "t": table_id},
            )
        ).scalar_one()
        return int(value)

    # ----- queries built elsewhere (aggregate.py, search) ------------------------------

    async def fetch(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        rows = await self.session.execute(text(sql), params)
        return [dict(r._mapping) for r in rows]

    async def set_fuzzy_threshold(self, threshold: float) -> None:
        await self.session.execute(
            text(
                "SELECT set_config('pg_trgm.word_similarity_threshold', :t, true),"
                " set_config('pg_trgm.similarity_threshold', :t, true)"
            ),
            {"t": str(threshold)},
        )


async def due_bases(
    session: AsyncSession, *, stale_seconds: int, reconcile_seconds: int, limit: int
) -> list[tuple[uuid.UUID, str, bool]]:
    """(workspace, base, full) pairs due for a sync, across workspaces (SECURITY DEFINER)."""
    rows = await session.execute(
        text(
            "SELECT workspace_id, base_id, full_due FROM mirror_bases_due("
            "make_interval(secs => :stale), make_interval(secs => :rec), :limit)"
        ),
        {"stale": stale_seconds, "rec": reconcile_seconds, "limit": limit},
    )
    return [(r.workspace_id, r.base_id, bool(r.full_due)) for r in rows]
