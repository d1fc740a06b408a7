"""The shared part of the Airtable service: errors it adds to the client's, schema helpers,
and :class:`AirtableServiceBase` (identity, connections and clients, bases, schema, table
and field resolution) that the record, write and mirror parts build on."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.airtable.client import AirtableClient
from pyairtable_platform.core.airtable.connections import (
    ConnectionService,
    upstream_connection,
)
from pyairtable_platform.core.airtable.deps import AirtableDeps
from pyairtable_platform.core.airtable.exceptions import (
    AirtableBusy,
    AirtableTokenInvalid,
    AirtableUnavailable,
    BaseNotFound,
    MirrorNotReady,
    TableNotFound,
    UnknownField,
)
from pyairtable_platform.core.airtable.repository import ConnectionRepository, ConnectionRow
from pyairtable_platform.core.airtable.schemas import (
    BaseSchema,
    BaseSummary,
    Channel,
    FieldSchema,
    Freshness,
    TableSchema,
    ViewSchema,
)
from pyairtable_platform.core.airtable.transport import acting_user_id
from pyairtable_platform.core.mirror.repository import MirrorRepository, TableRow
from pyairtable_platform.kit.auth import Identity
from pyairtable_platform.kit.db import unit_of_work
from pyairtable_platform.kit.errors import ValidationFailed


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


class AirtableServiceBase:
    """What every part of :class:`AirtableService` shares: the identity, its session, the
    clients of its connections, bases and schema, table and field resolution."""

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
        # base id -> (its connection, its name): looked up once per request or tool call
        # (a record read resolves the table, then needs the client: the same lookup twice).
        self._bases: dict[str, tuple[ConnectionRow, str]] = {}

    # ----- connections and clients -----------------------------------------------------

    async def _client(self, row: ConnectionRow) -> AirtableClient:
        # Every upstream call of this service goes through a client obtained here: the usage
        # row of each call names the acting user.
        user = self.identity.user_id
        acting_user_id.set(str(user) if user is not None and user.int else None)
        return await self.deps.clients.get(upstream_connection(row, self.deps))

    async def _base(self, base_id: str) -> tuple[ConnectionRow, str]:
        """The connection a base is reached through and the base's name (404 listing the
        reachable bases); bases not seen yet are looked for in a fresh ``list_bases``."""
        found = self._bases.get(base_id)
        if found is not None:
            return found
        repo = ConnectionRepository(self.session)
        found = await repo.for_base(base_id)
        if found is None:
            await self.list_bases()
            found = await repo.for_base(base_id)
        if found is None:
            known = [f"{b.name} ({b.base_id})" for b in await self.mirror.bases()]
            raise BaseNotFound(
                f"base {base_id!r} is not reachable through this workspace's Airtable "
                f"connections; bases: {_names(known) or 'none'}"
            )
        self._bases[base_id] = found
        return found

    async def _client_for(self, base_id: str) -> AirtableClient:
        row, _ = await self._base(base_id)
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
        # The connections and what the mirror knows already, in one read: Airtable's
        # (cached) list is written through only where it differs, so a repeated listing is
        # one statement and no write.
        rows, mirrored = await self.connections.active_with_bases()
        known = {m.base_id: m for m in mirrored}
        for row in rows:
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
            changed = False
            for b in bases:
                m = known.get(b["id"])
                name, permission = b["name"], b.get("permissionLevel")
                if m is None or (m.connection_id, m.name, m.permission_level) != (
                    row.id,
                    name,
                    permission,
                ):
                    await self.mirror.upsert_base(row.id, b["id"], name, permission)
                    changed = True
            if changed:
                self._bases.clear()
                known.update({m.base_id: m for m in await self.mirror.bases(row.id)})
            for b in bases:
                m = known.get(b["id"])
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
        row, name = await self._base(base_id)
        client = await self._client(row)
        try:
            raw = await client.base_schema(base_id)
        except AirtableTokenInvalid as exc:
            await self._guard(base_id, exc)
            raise
        return BaseSchema(
            id=base_id,
            name=name,
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
