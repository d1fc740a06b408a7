"""SQL for ``api_usage_logs``: one row per LLM call, and the sums the budgets and cost
summaries read. Time bucketing goes through :mod:`pyairtable_platform.kit.timeseries`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.kit.timeseries import bucket, is_timescale


@dataclass(frozen=True)
class UsageRow:
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    session_id: uuid.UUID | None
    request_id: str | None
    provider: str
    model: str
    endpoint: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    thinking_tokens: int
    cost_usd: Decimal
    latency_ms: int
    success: bool
    status_code: int | None = None
    error_message: str | None = None
    metadata: dict[str, Any] | None = None


async def insert_usage(session: AsyncSession, rows: list[UsageRow]) -> None:
    if not rows:
        return
    await session.execute(
        text(
            "INSERT INTO api_usage_logs (workspace_id, user_id, session_id, request_id,"
            " service_name, provider, model, endpoint, input_tokens, output_tokens, total_tokens,"
            " cached_tokens, thinking_tokens, cost_usd, latency_ms, status_code, success,"
            " error_message, metadata) VALUES (:wid, :uid, :sid, :rid, 'llm', :provider, :model,"
            " :endpoint, :input, :output, :total, :cached, :thinking, :cost, :latency, :status,"
            " :success, :error, CAST(:metadata AS jsonb))"
        ),
        [
            {
                "wid": r.workspace_id,
                "uid": r.user_id,
                "sid": r.session_id,
                "rid": r.request_id,
                "provider": r.provider,
                "model": r.model,
                "endpoint": r.endpoint,
                "input": r.input_tokens,
                "output": r.output_tokens,
                "total": r.input_tokens + r.output_tokens,
                "cached": r.cached_tokens,
                "thinking": r.thinking_tokens,
                "cost": r.cost_usd,
                "latency": r.latency_ms,
                "status": r.status_code,
                "success": r.success,
                "error": r.error_message,
                "metadata": orjson.dumps(r.metadata or {}).decode(),
            }
            for r in rows
        ],
    )


async def spent(
    session: AsyncSession,
    *,
    since: datetime | None,
    user_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
) -> Decimal:
    """What the workspace (optionally one user or one session) spent since a time."""
    clauses = ["success OR cost_usd > 0"]
    params: dict[str, Any] = {}
    if since is not None:
        clauses.append("created_at >= :since")
        params["since"] = since
    if user_id is not None:
        clauses.append("user_id = :uid")
        params["uid"] = user_id
    if session_id is not None:
        clauses.append("session_id = :sid")
        params["sid"] = session_id
    where = " AND ".join(f"({c})" for c in clauses)
    result = await session.execute(
        text(f"SELECT coalesce(sum(cost_usd), 0) FROM api_usage_logs WHERE {where}"),
        params,
    )
    return Decimal(result.scalar_one())


GroupBy = Literal["session", "user", "model", "day"]
_GROUP_COLUMNS: dict[str, str] = {
    "session": "session_id::text",
    "user": "user_id::text",
    "model": "coalesce(model, '')",
}


async def summary(
    session: AsyncSession,
    *,
    group_by: GroupBy,
    since: datetime,
    until: datetime,
    user_id: uuid.UUID | None,
    session_id: uuid.UUID | None,
    limit: int,
) -> list[dict[str, Any]]:
    if group_by == "day":
        key = f"({bucket('1 day', 'created_at', timescale=await is_timescale(session))})::text"
    else:
        key = _GROUP_COLUMNS[group_by]
    clauses = ["created_at >= :since", "created_at < :until"]
    params: dict[str, Any] = {"since": since, "until": until, "limit": limit}
    if user_id is not None:
        clauses.append("user_id = :uid")
        params["uid"] = user_id
    if session_id is not None:
        clauses.append("session_id = :sid")
        params["sid"] = session_id
    result = await session.execute(
        text(
            f"SELECT {key} AS key, count(*) AS calls,"
            " count(*) FILTER (WHERE NOT success) AS failed,"
            " coalesce(sum(input_tokens), 0) AS input_tokens,"
            " coalesce(sum(output_tokens), 0) AS output_tokens,"
            " coalesce(sum(cached_tokens), 0) AS cached_tokens,"
            " coalesce(sum(thinking_tokens), 0) AS thinking_tokens,"
            " coalesce(sum(cost_usd), 0) AS cost_usd,"
            " coalesce(avg(latency_ms), 0)::int AS avg_latency_ms"
            f" FROM api_usage_logs WHERE {' AND '.join(clauses)}"
            " GROUP BY 1 ORDER BY " + ("1" if group_by == "day" else "8 DESC") + " LIMIT :limit"
        ),
        params,
    )
    return [dict(row._mapping) for row in result]


async def list_calls(
    session: AsyncSession, *, session_id: uuid.UUID, limit: int
) -> list[dict[str, Any]]:
    result = await session.execute(
        text(
            "SELECT created_at, provider, model, endpoint, input_tokens, output_tokens,"
            " cached_tokens, thinking_tokens, cost_usd, latency_ms, success, error_message"
            " FROM api_usage_logs WHERE session_id = :sid ORDER BY created_at LIMIT :limit"
        ),
        {"sid": session_id, "limit": limit},
    )
    return [dict(row._mapping) for row in result]
