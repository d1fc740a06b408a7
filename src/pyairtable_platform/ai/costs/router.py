"""Usage and cost summaries (``/api/v1/usage``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from pyairtable_platform.ai.costs import repository
from pyairtable_platform.ai.costs.repository import GroupBy
from pyairtable_platform.ai.db import DbSession
from pyairtable_platform.ai.deps import CurrentCaller
from pyairtable_platform.kit.errors import BadRequest

router = APIRouter(prefix="/api/v1/usage", tags=["usage and costs"])


class UsageGroup(BaseModel):
    key: str | None
    calls: int
    failed: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    thinking_tokens: int
    cost_usd: Decimal
    avg_latency_ms: int


class UsageSummary(BaseModel):
    group_by: str
    since: datetime
    until: datetime
    total_cost_usd: Decimal
    total_calls: int
    groups: list[UsageGroup]


@router.get("/summary", response_model=UsageSummary, summary="LLM usage and cost summary")
async def summary(
    *,
    db: DbSession,
    caller: CurrentCaller,
    group_by: GroupBy = "day",
    since: datetime | None = None,
    until: datetime | None = None,
    scope: str = Query(default="workspace", pattern="^(workspace|me)$"),
    session_id: uuid.UUID | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> UsageSummary:
    """Tokens and cost of LLM calls grouped by session, user, model or day (UTC), for the whole
    workspace (admins) or only your own calls (``scope=me``). Default: the last 30 days."""
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=30)
    if since >= until:
        raise BadRequest("since must be before until")
    if scope == "workspace" and not caller.is_admin and group_by == "user":
        raise BadRequest("grouping the workspace by user needs an admin; use scope=me")
    own = scope == "me" or not caller.is_admin
    rows: list[dict[str, Any]] = await repository.summary(
        db,
        group_by=group_by,
        since=since,
        until=until,
        user_id=caller.user_id if own else None,
        session_id=session_id,
        limit=limit,
    )
    groups = [UsageGroup(**row) for row in rows]
    return UsageSummary(
        group_by=group_by,
        since=since,
        until=until,
        total_cost_usd=sum((g.cost_usd for g in groups), Decimal(0)),
        total_calls=sum(g.calls for g in groups),
        groups=groups,
    )


@router.get("/sessions/{session_id}", summary="Every LLM call of a session")
async def session_calls(
    session_id: uuid.UUID,
    db: DbSession,
    caller: CurrentCaller,
    limit: int = Query(default=500, ge=1, le=5000),
) -> dict[str, Any]:
    """Each LLM call of one of your sessions with its tokens, cost and latency."""
    from pyairtable_platform.ai.sessions import repository as sessions

    if await sessions.get(db, session_id) is None:
        from pyairtable_platform.kit.errors import NotFound

        raise NotFound(f"chat session {session_id} not found")
    calls = await repository.list_calls(db, session_id=session_id, limit=limit)
    return {
        "session_id": str(session_id),
        "total_cost_usd": str(sum((c["cost_usd"] for c in calls), Decimal(0))),
        "calls": calls,
    }
