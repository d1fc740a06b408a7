"""SQL for ``analysis_reports`` (tenant RLS: everyone in the workspace sees its reports)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

COLUMNS = (
    "id, user_id, base_id, table_name, status, report, tools_used, cost_usd, metadata, created_at"
)


async def insert(
    session: AsyncSession,
    *,
    report_id: uuid.UUID,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    base_id: str,
    table_name: str,
    status: str,
    report: str,
    tools_used: list[dict[str, Any]],
    cost_usd: Decimal,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    result = await session.execute(
        text(
            "INSERT INTO analysis_reports (id, workspace_id, user_id, base_id, table_name, status,"
            " report, tools_used, cost_usd, metadata) VALUES (:id, :wid, :uid, :base, :table,"
            " :status, :report, CAST(:tools AS jsonb), :cost, CAST(:metadata AS jsonb))"
            f" RETURNING {COLUMNS}"
        ),
        {
            "id": report_id,
            "wid": workspace_id,
            "uid": user_id,
            "base": base_id,
            "table": table_name,
            "status": status,
            "report": report,
            "tools": orjson.dumps(tools_used, default=str).decode(),
            "cost": cost_usd,
            "metadata": orjson.dumps(metadata, default=str).decode(),
        },
    )
    return dict(result.one()._mapping)


async def get(session: AsyncSession, report_id: uuid.UUID) -> dict[str, Any] | None:
    result = await session.execute(
        text(f"SELECT {COLUMNS} FROM analysis_reports WHERE id = :id"), {"id": report_id}
    )
    row = result.first()
    return dict(row._mapping) if row else None


async def list_reports(
    session: AsyncSession,
    *,
    base_id: str | None,
    table_name: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    result = await session.execute(
        text(
            f"SELECT {COLUMNS}, count(*) OVER () AS total FROM analysis_reports"
            " WHERE (CAST(:base AS text) IS NULL OR base_id = :base)"
            " AND (CAST(:table AS text) IS NULL OR table_name = :table)"
            " ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset"
        ),
        {"base": base_id, "table": table_name, "limit": limit, "offset": offset},
    )
    rows = [dict(row._mapping) for row in result]
    total = int(rows[0]["total"]) if rows else 0
    for row in rows:
        row.pop("total", None)
    return rows, total
