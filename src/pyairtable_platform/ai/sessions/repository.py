"""SQL for ``conversation_sessions`` and ``conversation_messages`` (personal RLS: a user sees
only their own sessions in the active workspace)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

SESSION_COLUMNS = (
    "id, title, base_id, provider, model, settings, total_messages, total_tokens,"
    " total_cost_usd, last_activity_at, created_at, updated_at"
)


async def create(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    title: str,
    base_id: str | None,
    settings: dict[str, Any],
) -> dict[str, Any]:
    result = await session.execute(
        text(
            "INSERT INTO conversation_sessions (workspace_id, user_id, title, base_id, settings,"
            " metadata) VALUES (:wid, :uid, :title, :base, CAST(:settings AS jsonb),"
            " jsonb_build_object('base_id', CAST(:base AS text)))"
            f" RETURNING {SESSION_COLUMNS}"
        ),
        {
            "wid": workspace_id,
            "uid": user_id,
            "title": title,
            "base": base_id,
            "settings": orjson.dumps(settings).decode(),
        },
    )
    return dict(result.one()._mapping)


async def get(session: AsyncSession, session_id: uuid.UUID) -> dict[str, Any] | None:
    result = await session.execute(
        text(f"SELECT {SESSION_COLUMNS} FROM conversation_sessions WHERE id = :id"),
        {"id": session_id},
    )
    row = result.first()
    return dict(row._mapping) if row else None


async def list_sessions(
    session: AsyncSession, *, limit: int, offset: int, base_id: str | None
) -> tuple[list[dict[str, Any]], int]:
    where = "WHERE base_id = :base" if base_id else ""
    result = await session.execute(
        text(
            f"SELECT {SESSION_COLUMNS}, count(*) OVER () AS total FROM conversation_sessions"
            f" {where} ORDER BY last_activity_at DESC, id LIMIT :limit OFFSET :offset"
        ),
        {"limit": limit, "offset": offset, "base": base_id},
    )
    rows = [dict(row._mapping) for row in result]
    total = int(rows[0].pop("total")) if rows else 0
    for row in rows[1:]:
        row.pop("total")
    return rows, total


async def update(session: AsyncSession, session_id: uuid.UUID, changes: dict[str, Any]) -> bool:
    sets: list[str] = []
    params: dict[str, Any] = {"id": session_id}
    for column in ("title", "base_id"):
        if column in changes:
            sets.append(f"{column} = :{column}")
            params[column] = changes[column]
    if "base_id" in changes:
        sets.append("metadata = metadata || jsonb_build_object('base_id', CAST(:base_id AS text))")
    if "settings" in changes:
        sets.append("settings = CAST(:settings AS jsonb)")
        params["settings"] = orjson.dumps(changes["settings"]).decode()
    if not sets:
        return await get(session, session_id) is not None
    result = await session.execute(
        text(f"UPDATE conversation_sessions SET {', '.join(sets)} WHERE id = :id RETURNING id"),
        params,
    )
    return result.first() is not None


async def delete(session: AsyncSession, session_id: uuid.UUID) -> bool:
    result = await session.execute(
        text("DELETE FROM conversation_sessions WHERE id = :id RETURNING id"), {"id": session_id}
    )
    return result.first() is not None


async def clear(session: AsyncSession, session_id: uuid.UUID) -> None:
    await session.execute(
        text("DELETE FROM conversation_messages WHERE session_id = :id"), {"id": session_id}
    )
    await session.execute(
        text(
            "UPDATE conversation_sessions SET total_messages = 0, total_tokens = 0 WHERE id = :id"
        ),
        {"id": session_id},
    )


@dataclass(frozen=True)
class NewMessage:
    role: str
    content: str
    tools_used: list[dict[str, Any]]
    token_count: int
    cost_usd: Decimal
    model: str | None
    response_time_ms: int | None
    metadata: dict[str, Any]
    # How long ago it was said (a turn stores the user's message with its answer); counted
    # back from the database's clock, so the rows of a turn keep their order.
    seconds_ago: float = 0.0


async def add_messages(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    messages: list[NewMessage],
) -> list[uuid.UUID]:
    """Store messages in order and count them on the session: one statement (a turn stores
    the user's message and the answer together)."""
    if not messages:
        return []
    rows = [
        {
            "role": m.role,
            "content": m.content,
            "tools_used": m.tools_used,
            "token_count": m.token_count,
            "cost_usd": str(m.cost_usd),
            "model": m.model,
            "response_time_ms": m.response_time_ms,
            "metadata": m.metadata,
            "ago": m.seconds_ago,
        }
        for m in messages
    ]
    # clock_timestamp(), not now(), and a microsecond per row: the rows of one transaction,
    # and of one statement, must keep their order.
    result = await session.execute(
        text(
            "WITH new AS (SELECT * FROM ROWS FROM (jsonb_to_recordset(CAST(:rows AS jsonb))"
            " AS (role text, content text, tools_used jsonb, token_count integer,"
            " cost_usd numeric, model text, response_time_ms integer, metadata jsonb,"
            " ago double precision)) WITH ORDINALITY AS r(role, content, tools_used,"
            " token_count, cost_usd, model, response_time_ms, metadata, ago, n)),"
            " inserted AS (INSERT INTO conversation_messages (created_at, workspace_id, user_id,"
            " session_id, role, content, tools_used, token_count, cost_usd, model,"
            " response_time_ms, metadata) SELECT clock_timestamp() - make_interval(secs => ago)"
            " + n * interval '1 microsecond', :wid, :uid, :sid, role, content, tools_used,"
            " token_count, cost_usd, model, response_time_ms, metadata FROM new ORDER BY n"
            " RETURNING id, created_at),"
            " counted AS (UPDATE conversation_sessions SET"
            " total_messages = total_messages + :count, total_tokens = total_tokens + :tokens,"
            " total_cost_usd = total_cost_usd + :cost, last_activity_at = now() WHERE id = :sid)"
            " SELECT id FROM inserted ORDER BY created_at"
        ),
        {
            "rows": orjson.dumps(rows).decode(),
            "wid": workspace_id,
            "uid": user_id,
            "sid": session_id,
            "count": len(messages),
            "tokens": sum(m.token_count for m in messages),
            "cost": sum((m.cost_usd for m in messages), Decimal(0)),
        },
    )
    return [row[0] for row in result]


async def messages(
    session: AsyncSession, session_id: uuid.UUID, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """Messages oldest first (the newest ``limit`` when given)."""
    if limit is None:
        sql = (
            "SELECT id, created_at, role, content, tools_used, token_count, cost_usd, model,"
            " response_time_ms, metadata FROM conversation_messages WHERE session_id = :sid"
            " ORDER BY created_at, id"
        )
    else:
        sql = (
            "SELECT * FROM (SELECT id, created_at, role, content, tools_used, token_count,"
            " cost_usd, model, response_time_ms, metadata FROM conversation_messages"
            " WHERE session_id = :sid ORDER BY created_at DESC, id DESC LIMIT :limit) m"
            " ORDER BY created_at, id"
        )
    result = await session.execute(text(sql), {"sid": session_id, "limit": limit})
    return [dict(row._mapping) for row in result]


async def search(
    session: AsyncSession, query: str, *, limit: int, session_id: uuid.UUID | None
) -> list[dict[str, Any]]:
    clause = "AND m.session_id = :sid" if session_id else ""
    result = await session.execute(
        text(
            "SELECT m.id, m.session_id, s.title AS session_title, m.role, m.created_at,"
            " ts_rank(m.search_vector, q) AS rank,"
            " ts_headline('english', m.content, q, 'MaxFragments=2, MaxWords=20, MinWords=5')"
            " AS highlight FROM conversation_messages m"
            " JOIN conversation_sessions s ON s.id = m.session_id,"
            " websearch_to_tsquery('english', :q) q"
            f" WHERE m.search_vector @@ q {clause}"
            " ORDER BY rank DESC, m.created_at DESC LIMIT :limit"
        ),
        {"q": query, "limit": limit, "sid": session_id},
    )
    return [dict(row._mapping) for row in result]
