"""SQL of Airtable connections and of the per-call usage rows (``api_usage_logs``).

Every query runs in the caller's RLS context: a connection of another workspace is simply
not there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.mirror.repository import BaseRow

_OWN_COLUMNS = """
    c.id, c.workspace_id, c.name, c.kind, c.auth_type, c.token_encrypted, c.token_hint,
    c.scopes, c.status, c.last_verified_at, c.last_error, c.metadata, c.created_at,
    c.updated_at"""
_COLUMNS = (
    _OWN_COLUMNS
    + ", (SELECT count(*) FROM airtable_bases b WHERE b.connection_id = c.id) AS base_count"
)
_BASE_COLUMNS = (
    "base_id",
    "connection_id",
    "name",
    "permission_level",
    "sync_status",
    "sync_error",
    "sync_cursor",
    "last_synced_at",
    "last_reconciled_at",
)
# Every connection with the bases the mirror knows through it (a row per pair; NULL base
# columns for a connection without bases).
_WITH_BASES = text(
    f"SELECT {_OWN_COLUMNS}, "
    + ", ".join(f"b.{col} AS b_{col}" for col in _BASE_COLUMNS)
    + " FROM airtable_connections c LEFT JOIN airtable_bases b ON b.connection_id = c.id"
    " ORDER BY c.created_at, c.id, b.name"
)
# A base with the connection it was seen through (a tool call on a base needs both).
_FOR_BASE = text(
    f"SELECT {_COLUMNS}, b.name AS base_name FROM airtable_bases b"
    " JOIN airtable_connections c ON c.id = b.connection_id WHERE b.base_id = :b"
)


@dataclass(frozen=True)
class ConnectionRow:
    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    kind: str
    auth_type: str
    token_encrypted: str | None
    token_hint: str | None
    scopes: list[str]
    status: str
    last_verified_at: datetime | None
    last_error: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    base_count: int


def _row(row: Any) -> ConnectionRow:
    return ConnectionRow(**dict(row._mapping))


class ConnectionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[ConnectionRow]:
        rows = await self.session.execute(
            text(f"SELECT {_COLUMNS} FROM airtable_connections c ORDER BY c.created_at")
        )
        return [_row(r) for r in rows]

    async def all_with_bases(self) -> list[tuple[ConnectionRow, list[BaseRow]]]:
        """Every connection and the mirror's bases of each, in one statement (what listing
        the bases needs on every call)."""
        out: list[tuple[ConnectionRow, list[BaseRow]]] = []
        for row in await self.session.execute(_WITH_BASES):
            data = dict(row._mapping)
            base = {col: data.pop(f"b_{col}") for col in _BASE_COLUMNS}
            if not out or out[-1][0].id != data["id"]:
                out.append((ConnectionRow(**data, base_count=0), []))
            if base["base_id"] is not None:
                out[-1][1].append(BaseRow(**base))
        return [(replace(c, base_count=len(bases)), bases) for c, bases in out]

    async def get(self, connection_id: uuid.UUID) -> ConnectionRow | None:
        row = (
            await self.session.execute(
                text(f"SELECT {_COLUMNS} FROM airtable_connections c WHERE c.id = :id"),
                {"id": connection_id},
            )
        ).first()
        return _row(row) if row else None

    async def find_by_name(self, name: str) -> ConnectionRow | None:
        row = (
            await self.session.execute(
                text(f"SELECT {_COLUMNS} FROM airtable_connections c WHERE c.name = :name"),
                {"name": name},
            )
        ).first()
        return _row(row) if row else None

    async def insert(
        self,
        *,
        workspace_id: uuid.UUID,
        created_by: uuid.UUID | None,
        name: str,
        kind: str,
        auth_type: str,
        token_encrypted: str,
        token_hint: str,
        scopes: list[str],
        metadata: dict[str, Any],
    ) -> uuid.UUID:
        result = await self.session.execute(
            text(
                "INSERT INTO airtable_connections (workspace_id, created_by, name, kind,"
                " auth_type, token_encrypted, token_hint, scopes, status, last_verified_at,"
                " metadata) VALUES (:wid, :uid, :name, :kind, :auth, :tok, :hint, :scopes,"
                " 'active', now(), CAST(:meta AS jsonb)) RETURNING id"
            ),
            {
                "wid": workspace_id,
                "uid": created_by,
                "name": name,
                "kind": kind,
                "auth": auth_type,
                "tok": token_encrypted,
                "hint": token_hint,
                "scopes": scopes,
                "meta": orjson.dumps(metadata).decode(),
            },
        )
        connection_id: uuid.UUID = result.scalar_one()
        return connection_id

    async def set_token(
        self,
        connection_id: uuid.UUID,
        *,
        token_encrypted: str,
        token_hint: str,
        scopes: list[str],
        metadata: dict[str, Any],
    ) -> None:
        await self.session.execute(
            text(
                "UPDATE airtable_connections SET token_encrypted = :tok, token_hint = :hint,"
                " scopes = :scopes, status = 'active', last_error = NULL,"
                " last_verified_at = now(), metadata = metadata || CAST(:meta AS jsonb)"
                " WHERE id = :id"
            ),
            {
                "id": connection_id,
                "tok": token_encrypted,
                "hint": token_hint,
                "scopes": scopes,
                "meta": orjson.dumps(metadata).decode(),
            },
        )

    async def set_status(
        self, connection_id: uuid.UUID, status: str, error: str | None, *, verified: bool
    ) -> None:
        await self.session.execute(
            text(
                "UPDATE airtable_connections SET status = :status, last_error = :error,"
                " last_verified_at = CASE WHEN :verified THEN now() ELSE last_verified_at END"
                " WHERE id = :id"
            ),
            {"id": connection_id, "status": status, "error": error, "verified": verified},
        )

    async def delete(self, connection_id: uuid.UUID) -> bool:
        result = await self.session.execute(
            text("DELETE FROM airtable_connections WHERE id = :id RETURNING id"),
            {"id": connection_id},
        )
        return result.first() is not None

    async def for_base(self, base_id: str) -> tuple[ConnectionRow, str] | None:
        """The connection a base was seen through and the base's name, in one statement
        (every tool call and REST read on a base needs both)."""
        row = (await self.session.execute(_FOR_BASE, {"b": base_id})).first()
        if row is None:
            return None
        data = dict(row._mapping)
        base_name: str = data.pop("base_name")
        return ConnectionRow(**data), base_name

    async def base_connection(self, base_id: str) -> uuid.UUID | None:
        """The connection a base was seen through (the mirror's ``airtable_bases`` row)."""
        value: uuid.UUID | None = (
            await self.session.execute(
                text("SELECT connection_id FROM airtable_bases WHERE base_id = :b"),
                {"b": base_id},
            )
        ).scalar_one_or_none()
        return value


async def insert_usage(
    session: AsyncSession,
    *,
    workspace_id: str,
    user_id: str | None,
    operation: str,
    status_code: int | None,
    latency_ms: int,
    success: bool,
    error: str | None,
    metadata: dict[str, Any],
) -> None:
    """One ``api_usage_logs`` row for one upstream Airtable request."""
    await session.execute(
        text(
            "INSERT INTO api_usage_logs (workspace_id, user_id, request_id, service_name,"
            " provider, endpoint, tool_name, latency_ms, status_code, success, error_message,"
            " metadata) VALUES (:wid, :uid, NULLIF(current_setting('app.request_id', true), ''),"
            " 'airtable', 'airtable', :endpoint, :endpoint, :latency, :status, :success,"
            " :error, CAST(:meta AS jsonb))"
        ),
        {
            "wid": workspace_id,
            "uid": user_id,
            "endpoint": operation,
            "latency": latency_ms,
            "status": status_code,
            "success": success,
            "error": error,
            "meta": orjson.dumps(metadata).decode(),
        },
    )
