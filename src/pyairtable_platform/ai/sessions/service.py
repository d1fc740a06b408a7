"""Chat sessions: create, list, get with messages, rename and settings, delete, clear, search."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.ai.chat import repository as approvals_repo
from pyairtable_platform.ai.sessions import repository
from pyairtable_platform.ai.sessions.schemas import (
    MessageOut,
    SearchHit,
    SearchResult,
    SessionCreate,
    SessionDetail,
    SessionList,
    SessionOut,
    SessionUpdate,
)
from pyairtable_platform.kit.errors import BadRequest, NotFound


def _not_found(session_id: uuid.UUID) -> NotFound:
    return NotFound(f"chat session {session_id} not found")


async def create(
    db: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID, body: SessionCreate
) -> SessionOut:
    row = await repository.create(
        db,
        workspace_id=workspace_id,
        user_id=user_id,
        title=body.title,
        base_id=body.base_id,
        settings=body.settings.model_dump(exclude_none=True),
    )
    return SessionOut.model_validate(row)


async def list_sessions(
    db: AsyncSession, *, limit: int, offset: int, base_id: str | None
) -> SessionList:
    rows, total = await repository.list_sessions(db, limit=limit, offset=offset, base_id=base_id)
    return SessionList(sessions=[SessionOut.model_validate(r) for r in rows], total=total)


async def get(db: AsyncSession, session_id: uuid.UUID, message_limit: int) -> SessionDetail:
    row = await repository.get(db, session_id)
    if row is None:
        raise _not_found(session_id)
    messages = await repository.messages(db, session_id, limit=message_limit)
    pending = await approvals_repo.pending(db, session_id)
    return SessionDetail(
        **SessionOut.model_validate(row).model_dump(),
        messages=[
            MessageOut(
                **{k: m[k] for k in MessageOut.model_fields if k in m and k != "status"},
                status=(m.get("metadata") or {}).get("status"),
            )
            for m in messages
        ],
        pending_approvals=[
            {
                "action_id": a["action_id"],
                "tool": a["tool_name"],
                "arguments": a["arguments"],
                "diff": a["preview"].get("diff"),
                "summary": a["preview"].get("summary"),
                "created_at": a["created_at"],
            }
            for a in pending
        ],
    )


async def update(db: AsyncSession, session_id: uuid.UUID, body: SessionUpdate) -> SessionOut:
    changes = body.model_dump(exclude_unset=True)
    if "settings" in changes and body.settings is not None:
        changes["settings"] = body.settings.model_dump(exclude_none=True)
    if not await repository.update(db, session_id, changes):
        raise _not_found(session_id)
    row = await repository.get(db, session_id)
    assert row is not None
    return SessionOut.model_validate(row)


async def delete(db: AsyncSession, session_id: uuid.UUID) -> None:
    if not await repository.delete(db, session_id):
        raise _not_found(session_id)


async def clear(db: AsyncSession, session_id: uuid.UUID) -> SessionOut:
    if await repository.get(db, session_id) is None:
        raise _not_found(session_id)
    await repository.clear(db, session_id)
    row = await repository.get(db, session_id)
    assert row is not None
    return SessionOut.model_validate(row)


async def search(
    db: AsyncSession, query: str, *, limit: int, session_id: uuid.UUID | None
) -> SearchResult:
    if not query.strip():
        raise BadRequest("q must not be empty")
    rows = await repository.search(db, query, limit=limit, session_id=session_id)
    return SearchResult(
        query=query,
        hits=[
            SearchHit(
                message_id=r["id"],
                session_id=r["session_id"],
                session_title=r["session_title"],
                role=r["role"],
                created_at=r["created_at"],
                rank=float(r["rank"]),
                highlight=r["highlight"],
            )
            for r in rows
        ],
    )
