"""SQL for ``chat_approvals``: writes the model proposed, waiting for the user's decision."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

COLUMNS = (
    "id, session_id, turn_id, action_id, tool_call_id, tool_name, arguments, preview,"
    " approval_token_encrypted, status, result, decided_at, created_at"
)


async def insert(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    turn_id: str,
    action_id: str,
    tool_call_id: str,
    tool_name: str,
    arguments: dict[str, Any],
    preview: dict[str, Any],
    approval_token_encrypted: str | None,
) -> None:
    await session.execute(
        text(
            "INSERT INTO chat_approvals (workspace_id, user_id, session_id, turn_id, action_id,"
            " tool_call_id, tool_name, arguments, preview, approval_token_encrypted)"
            " VALUES (:wid, :uid, :sid, :turn, :action, :call, :tool, CAST(:args AS jsonb),"
            " CAST(:preview AS jsonb), :token)"
        ),
        {
            "wid": workspace_id,
            "uid": user_id,
            "sid": session_id,
            "turn": turn_id,
            "action": action_id,
            "call": tool_call_id,
            "tool": tool_name,
            "args": orjson.dumps(arguments, default=str).decode(),
            "preview": orjson.dumps(preview, default=str).decode(),
            "token": approval_token_encrypted,
        },
    )


async def pending(session: AsyncSession, session_id: uuid.UUID) -> list[dict[str, Any]]:
    result = await session.execute(
        text(
            f"SELECT {COLUMNS} FROM chat_approvals WHERE session_id = :sid"
            " AND status = 'pending' ORDER BY created_at"
        ),
        {"sid": session_id},
    )
    return [dict(row._mapping) for row in result]


async def of_turn(
    session: AsyncSession, session_id: uuid.UUID, turn_id: str
) -> list[dict[str, Any]]:
    result = await session.execute(
        text(
            f"SELECT {COLUMNS} FROM chat_approvals WHERE session_id = :sid"
            " AND turn_id = :turn ORDER BY created_at"
        ),
        {"sid": session_id, "turn": turn_id},
    )
    return [dict(row._mapping) for row in result]


async def get(
    session: AsyncSession, session_id: uuid.UUID, action_id: str
) -> dict[str, Any] | None:
    result = await session.execute(
        text(
            f"SELECT {COLUMNS} FROM chat_approvals WHERE session_id = :sid"
            " AND action_id = :action ORDER BY created_at DESC LIMIT 1"
        ),
        {"sid": session_id, "action": action_id},
    )
    row = result.first()
    return dict(row._mapping) if row else None


async def decide(session: AsyncSession, approval_id: uuid.UUID, status: str) -> bool:
    """Move a pending approval to its decision; False when it was already decided."""
    result = await session.execute(
        text(
            "UPDATE chat_approvals SET status = :status, decided_at = now()"
            " WHERE id = :id AND status = 'pending' RETURNING id"
        ),
        {"id": approval_id, "status": status},
    )
    return result.first() is not None


async def set_result(
    session: AsyncSession, approval_id: uuid.UUID, status: str, result: dict[str, Any]
) -> None:
    await session.execute(
        text(
            "UPDATE chat_approvals SET status = :status, result = CAST(:result AS jsonb)"
            " WHERE id = :id"
        ),
        {"id": approval_id, "status": status, "result": orjson.dumps(result, default=str).decode()},
    )
