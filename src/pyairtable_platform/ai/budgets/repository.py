"""SQL for ``session_budgets``, ``user_budgets``, ``workspace_budgets`` and ``budget_alerts``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

BudgetType = Literal["session", "user", "workspace"]
_TABLES: dict[BudgetType, str] = {
    "session": "session_budgets",
    "user": "user_budgets",
    "workspace": "workspace_budgets",
}


@dataclass(frozen=True)
class Budget:
    id: uuid.UUID
    type: BudgetType
    limit_usd: Decimal
    alert_threshold: Decimal
    period: str
    session_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None


async def applicable(
    session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID | None
) -> list[Budget]:
    """The active budgets a turn of this user (in this session) counts against."""
    result = await session.execute(
        text(
            "SELECT id, 'workspace' AS type, limit_usd, alert_threshold, reset_period,"
            " NULL::uuid AS session_id, NULL::uuid AS user_id"
            " FROM workspace_budgets WHERE is_active"
            " UNION ALL SELECT id, 'user', limit_usd, alert_threshold, reset_period, NULL, user_id"
            " FROM user_budgets WHERE is_active AND user_id = :uid"
            " UNION ALL SELECT id, 'session', limit_usd, alert_threshold, reset_period,"
            " session_id, NULL FROM session_budgets WHERE is_active AND session_id = :sid"
        ),
        {"uid": user_id, "sid": session_id},
    )
    return [Budget(*row) for row in result]


async def list_all(session: AsyncSession, *, user_id: uuid.UUID) -> list[Budget]:
    result = await session.execute(
        text(
            "SELECT id, 'workspace' AS type, limit_usd, alert_threshold, reset_period,"
            " NULL::uuid AS session_id, NULL::uuid AS user_id"
            " FROM workspace_budgets WHERE is_active"
            " UNION ALL SELECT id, 'user', limit_usd, alert_threshold, reset_period, NULL, user_id"
            " FROM user_budgets WHERE is_active AND user_id = :uid"
            " UNION ALL SELECT b.id, 'session', b.limit_usd, b.alert_threshold, b.reset_period,"
            " b.session_id, NULL FROM session_budgets b"
            " JOIN conversation_sessions s ON s.id = b.session_id WHERE b.is_active"
        ),
        {"uid": user_id},
    )
    return [Budget(*row) for row in result]


async def set_workspace(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    limit: Decimal,
    threshold: Decimal,
    period: str,
) -> None:
    await session.execute(text("UPDATE workspace_budgets SET is_active = false WHERE is_active"))
    await session.execute(
        text(
            "INSERT INTO workspace_budgets (workspace_id, limit_usd, alert_threshold, reset_period)"
            " VALUES (:wid, :limit, :threshold, :period)"
        ),
        {"wid": workspace_id, "limit": limit, "threshold": threshold, "period": period},
    )


async def set_user(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    limit: Decimal,
    threshold: Decimal,
    period: str,
) -> None:
    await session.execute(
        text("UPDATE user_budgets SET is_active = false WHERE is_active AND user_id = :uid"),
        {"uid": user_id},
    )
    await session.execute(
        text(
            "INSERT INTO user_budgets (workspace_id, user_id, limit_usd, alert_threshold,"
            " reset_period) VALUES (:wid, :uid, :limit, :threshold, :period)"
        ),
        {
            "wid": workspace_id,
            "uid": user_id,
            "limit": limit,
            "threshold": threshold,
            "period": period,
        },
    )


async def set_session(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    session_id: uuid.UUID,
    limit: Decimal,
    threshold: Decimal,
    period: str,
) -> None:
    await session.execute(
        text(
            "INSERT INTO session_budgets (workspace_id, session_id, limit_usd, alert_threshold,"
            " reset_period) VALUES (:wid, :sid, :limit, :threshold, :period)"
            " ON CONFLICT (session_id) DO UPDATE SET limit_usd = EXCLUDED.limit_usd,"
            " alert_threshold = EXCLUDED.alert_threshold, reset_period = EXCLUDED.reset_period,"
            " is_active = true"
        ),
        {
            "wid": workspace_id,
            "sid": session_id,
            "limit": limit,
            "threshold": threshold,
            "period": period,
        },
    )


async def deactivate(
    session: AsyncSession, kind: BudgetType, *, user_id: uuid.UUID, session_id: uuid.UUID | None
) -> bool:
    table = _TABLES[kind]
    clauses = ["is_active"]
    if kind == "user":
        clauses.append("user_id = :uid")
    if kind == "session":
        clauses.append("session_id = :sid")
    result = await session.execute(
        text(f"UPDATE {table} SET is_active = false WHERE {' AND '.join(clauses)} RETURNING id"),
        {"uid": user_id, "sid": session_id},
    )
    return result.first() is not None


async def record_spend(session: AsyncSession, budget: Budget, spent: Decimal) -> None:
    if budget.type == "workspace":
        return  # workspace_budgets has no counter: the usage sums are authoritative
    await session.execute(
        text(f"UPDATE {_TABLES[budget.type]} SET spent_usd = :spent WHERE id = :id"),
        {"spent": spent, "id": budget.id},
    )


async def alert_exists(
    session: AsyncSession, budget_id: uuid.UUID, alert_type: str, since: datetime | None
) -> bool:
    result = await session.execute(
        text(
            "SELECT 1 FROM budget_alerts WHERE budget_id = :bid AND alert_type = :type"
            " AND (CAST(:since AS timestamptz) IS NULL OR created_at >= :since) LIMIT 1"
        ),
        {"bid": budget_id, "type": alert_type, "since": since},
    )
    return result.first() is not None


async def insert_alert(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None,
    budget: Budget,
    alert_type: str,
    percent: Decimal,
    spent: Decimal,
    message: str,
) -> None:
    await session.execute(
        text(
            "INSERT INTO budget_alerts (workspace_id, user_id, session_id, budget_type, budget_id,"
            " alert_type, threshold_percent, current_usage_usd, budget_limit_usd, message)"
            " VALUES (:wid, :uid, :sid, :type, :bid, :alert, :pct, :spent, :limit, :message)"
        ),
        {
            "wid": workspace_id,
            "uid": user_id,
            "sid": session_id,
            "type": budget.type,
            "bid": budget.id,
            "alert": alert_type,
            "pct": percent,
            "spent": spent,
            "limit": budget.limit_usd,
            "message": message,
        },
    )


async def list_alerts(session: AsyncSession, limit: int) -> list[dict[str, Any]]:
    result = await session.execute(
        text(
            "SELECT id, budget_type, budget_id, session_id, user_id, alert_type,"
            " threshold_percent, current_usage_usd, budget_limit_usd, message, is_acknowledged,"
            " created_at FROM budget_alerts ORDER BY created_at DESC LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [dict(row._mapping) for row in result]
