"""Reads and maintenance of ``audit_log``.

Rows are written only by the ``audit_row_change()`` trigger (migration 0002); the services'
role has no INSERT/UPDATE/DELETE privilege on the table, so retention goes through the
SECURITY DEFINER function ``audit_purge``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: uuid.UUID
    workspace_id: uuid.UUID | None
    table_name: str
    row_id: str | None
    operation: str
    old_data: dict[str, Any] | None
    new_data: dict[str, Any] | None
    changed_fields: list[str] | None
    actor_user_id: uuid.UUID | None
    request_id: str | None
    txid: int
    created_at: datetime


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_for_row(self, table_name: str, row_id: str) -> list[AuditEntry]:
        """The trail of one row in the current workspace, oldest first."""
        rows = await self.session.execute(
            text(
                "SELECT id, workspace_id, table_name, row_id, operation, old_data, new_data,"
                " changed_fields, actor_user_id, request_id, txid, created_at"
                " FROM audit_log"
                " WHERE workspace_id = app_current_workspace_id()"
                " AND table_name = :table AND row_id = :row_id ORDER BY created_at, id"
            ),
            {"table": table_name, "row_id": row_id},
        )
        return [AuditEntry(**row._mapping) for row in rows]

    async def purge_older_than(self, older_than: timedelta) -> int:
        """Delete audit rows older than ``older_than`` (all workspaces); return the count."""
        result = await self.session.execute(
            text("SELECT audit_purge(:older_than)"), {"older_than": older_than}
        )
        return int(result.scalar() or 0)
