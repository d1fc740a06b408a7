"""Keeping the mirror fresh: schema sync, initial/full and incremental record sync,
reconciliation of deletions, write-through of the platform's own writes.

A sync runs in many short transactions of its own (one per page), so its progress is
visible while it runs and a failure loses at most a page. One sync per base runs at a time
(a Redis lock renewed on every page; a crashed holder's lock expires).

- **Initial / full** (a base never synced, ``full=True``, or the periodic reconciliation):
  pages of every table are read round-robin, so every table becomes searchable early
  instead of the first one only; records the pass did not see are deleted afterwards.
- **Incremental**: ``IS_AFTER(LAST_MODIFIED_TIME(), <previous start - overlap>)`` per table.
  Airtable's LAST_MODIFIED_TIME() ignores computed fields and deletions, which is what the
  periodic full pass is for.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.core.airtable.client import AirtableClient
from pyairtable_platform.core.airtable.exceptions import AirtableError
from pyairtable_platform.core.airtable.schemas import SyncStatus, TableSyncStatus
from pyairtable_platform.core.mirror.config import MirrorSettings
from pyairtable_platform.core.mirror.flatten import linked_ids, primary_text, searchable_text
from pyairtable_platform.core.mirror.repository import FieldRow, MirrorRepository
from pyairtable_platform.kit.db import unit_of_work

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass
class TableShape:
    """What flattening a table's records needs from its schema."""

    table_id: str
    primary_name: str | None
    link_fields: set[str] = field(default_factory=set)


def shapes(fields: list[FieldRow]) -> dict[str, TableShape]:
    out: dict[str, TableShape] = {}
    for f in fields:
        shape = out.setdefault(f.table_id, TableShape(f.table_id, None))
        if f.is_primary:
            shape.primary_name = f.name
        if f.type == "multipleRecordLinks":
            shape.link_fields.add(f.name)
    return out


async def flatten_rows(
    repo: MirrorRepository, base_id: str, shape: TableShape, records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Mirror rows for Airtable records, linked records resolved to their names."""
    ids: set[str] = set()
    for record in records:
        ids |= linked_ids(record.get("fields", {}), shape.link_fields)
    names = await repo.primary_values(base_id, sorted(ids))
    rows = []
    for record in records:
        fields = record.get("fields", {})
        rows.append(
            {
                "record_id": record["id"],
                "fields": fields,
                "primary_value": primary_text(fields, shape.primary_name),
                "searchable_text": searchable_text(
                    fields,
                    primary_name=shape.primary_name,
                    link_fields=shape.link_fields,
                    names=names,
                ),
                "created_time": record.get("createdTime"),
            }
        )
    return rows


@dataclass
class _Progress:
    offset: str | None = None
    pages: int = 0
    records: int = 0


class SyncBusy(Exception):
    """Another sync of the same base holds the lock."""


class MirrorService:
    """Sync and status of the mirrored bases of one workspace."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        redis: Redis,
        settings: MirrorSettings,
        workspace_id: uuid.UUID,
    ) -> None:
        self.factory = factory
        self.redis = redis
        self.settings = settings
        self.workspace_id = workspace_id
        self._release = redis.register_script(_RELEASE)

    @contextlib.asynccontextmanager
    async def _uow(self) -> AsyncIterator[MirrorRepository]:
        async with unit_of_work(self.factory, workspace_id=self.workspace_id) as session:
            yield MirrorRepository(session)

    # ----- status ----------------------------------------------------------------------

    async def status(self, session: AsyncSession, base_id: str) -> SyncStatus | None:
        repo = MirrorRepository(session)
        base = await repo.base(base_id)
        if base is None:
            return None
        counts = await repo.counts(base_id)
        tables = []
        for t in await repo.tables(base_id):
            progress = t.metadata.get("sync", {}) if isinstance(t.metadata, dict) else {}
            tables.append(
                TableSyncStatus(
                    table_id=t.table_id,
                    name=t.name,
                    status=str(progress.get("status", "pending")),
                    records=counts.get(t.table_id, 0),
                    pages_done=int(progress.get("pages", 0)),
                    done=bool(progress.get("done", t.last_synced_at is not None)),
                    synced_at=t.last_synced_at,
                )
            )
        return SyncStatus(
            base_id=base_id,
            status=base.sync_status,
            error=base.sync_error,
            last_synced_at=base.last_synced_at,
            last_reconciled_at=base.last_reconciled_at,
            tables=tables,
        )

    # ----- sync ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lock(self, base_id: str) -> AsyncIterator[Any]:
        key = f"pap:mirror:lock:{self.workspace_id}:{base_id}"
        me = uuid.uuid4().hex
        ttl = self.settings.lock_ttl_seconds
        if not await self.redis.set(key, me, nx=True, ex=ttl):
            raise SyncBusy(base_id)

        async def renew() -> None:
            await self.redis.expire(key, ttl)

        try:
            yield renew
        finally:
            await self._release(keys=[key], args=[me])

    async def sync(self, client: AirtableClient, base_id: str, *, full: bool = False) -> None:
        """Bring the mirror of ``base_id`` up to date (see the module docstring)."""
        async with self._lock(base_id) as renew:
            try:
                await self._sync(client, base_id, full=full, renew=renew)
            except AirtableError as exc:
                async with self._uow() as repo:
                    await repo.set_base_status(base_id, "error", error=exc.detail[:1000])
                raise
            except BaseException:
                async with self._uow() as repo:
                    await repo.set_base_status(base_id, "error", error="sync interrupted")
                raise

    async def _sync(self, client: AirtableClient, base_id: str, *, full: bool, renew: Any) -> None:
        async with self._uow() as repo:
            base = await repo.base(base_id)
            if base is None:
                raise LookupError(f"base {base_id} is not known to this workspace")
            started: datetime = (await repo.session.execute(text("SELECT now()"))).scalar_one()
            full = full or base.last_synced_at is None or base.sync_cursor is None
            await repo.set_base_status(base_id, "syncing")
        # The mirror must see what Airtable has now, not what the read cache kept.
        await client.invalidate_cache(base_id)
        schema = await client.base_schema(base_id)
        tables: list[dict[str, Any]] = list(schema.get("tables", []))
        async with self._uow() as repo:
            renames = await repo.replace_schema(base_id, tables)
            for table_id, old, new in renames:
                await repo.rename_field_key(base_id, table_id, old, new)
            table_shapes = shapes(await repo.fields(base_id))
            mode = "full" if full else "incremental"
            for t in tables:
                await repo.set_table_progress(
                    base_id,
                    t["id"],
                    {"status": "syncing", "mode": mode, "pages": 0, "records": 0, "done": False},
                )
        formula = None
        if not full and base.sync_cursor is not None:
            since = base.sync_cursor - timedelta(seconds=self.settings.incremental_overlap_seconds)
            formula = f"IS_AFTER(LAST_MODIFIED_TIME(), DATETIME_PARSE('{_utc(since)}'))"
        pending = {t["id"]: _Progress() for t in tables}
        # Round robin: one page of each unfinished table per turn.
        while pending:
            for table_id in list(pending):
                state = pending[table_id]
                page = await client.list_records_page(
                    base_id,
                    table_id,
                    formula=formula,
                    page_size=PAGE_SIZE,
                    offset=state.offset,
                )
                records: list[dict[str, Any]] = page.get("records", [])
                state.offset = page.get("offset")
                state.pages += 1
                state.records += len(records)
                done = not state.offset
                shape = table_shapes.get(table_id, TableShape(table_id, None))
                async with self._uow() as repo:
                    await repo.upsert_records(
                        base_id, table_id, await flatten_rows(repo, base_id, shape, records)
                    )
                    if done and full:
                        removed = await repo.delete_unseen(base_id, table_id, started)
                        if removed:
                            logger.info(
                                "mirror dropped records deleted upstream",
                                extra={"base_id": base_id, "table_id": table_id, "n": removed},
                            )
                    await repo.set_table_progress(
                        base_id,
                        table_id,
                        {
                            "status": "ok" if done else "syncing",
                            "mode": mode,
                            "pages": state.pages,
                            "records": state.records,
                            "done": done,
                        },
                        synced=done,
                    )
                await renew()
                if done:
                    del pending[table_id]
        if full:
            await self._relink(base_id, table_shapes, renew)
        async with self._uow() as repo:
            await repo.set_base_status(
                base_id,
                "ok",
                synced_at=started,
                cursor=started,
                reconciled_at=started if full else None,
            )

    async def _relink(self, base_id: str, table_shapes: dict[str, TableShape], renew: Any) -> None:
        """Re-resolve linked records' names once every table is in (an initial sync meets
        links to tables it has not read yet)."""
        for shape in table_shapes.values():
            if not shape.link_fields:
                continue
            after = ""
            while True:
                async with self._uow() as repo:
                    batch = await repo.table_records(base_id, shape.table_id, after=after)
                    if not batch:
                        break
                    ids: set[str] = set()
                    for rec in batch:
                        ids |= linked_ids(rec.fields, shape.link_fields)
                    names = await repo.primary_values(base_id, sorted(ids))
                    rows = [
                        {
                            "record_id": rec.record_id,
                            "searchable_text": searchable_text(
                                rec.fields,
                                primary_name=shape.primary_name,
                                link_fields=shape.link_fields,
                                names=names,
                            ),
                        }
                        for rec in batch
                    ]
                    await repo.set_searchable(base_id, shape.table_id, rows)
                    after = batch[-1].record_id
                await renew()

    # ----- write-through ---------------------------------------------------------------

    @staticmethod
    async def write_through(
        session: AsyncSession,
        base_id: str,
        table_id: str,
        *,
        records: Sequence[dict[str, Any]] = (),
        deleted: Sequence[str] = (),
    ) -> None:
        """Apply the platform's own write to the mirror, in the caller's transaction.

        Nothing happens for a table the mirror does not hold yet (its first sync reads it).
        """
        repo = MirrorRepository(session)
        table_fields = await repo.fields(base_id, table_id)
        if not table_fields:
            return
        shape = shapes(table_fields).get(table_id, TableShape(table_id, None))
        if records:
            await repo.upsert_records(
                base_id, table_id, await flatten_rows(repo, base_id, shape, list(records))
            )
        if deleted:
            await repo.delete_records(base_id, table_id, list(deleted))


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
