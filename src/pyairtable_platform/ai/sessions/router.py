"""Chat session endpoints (``/api/v1/chat/sessions``) and message search."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Response

from pyairtable_platform.ai.db import DbSession
from pyairtable_platform.ai.deps import CurrentCaller
from pyairtable_platform.ai.sessions import service
from pyairtable_platform.ai.sessions.schemas import (
    SearchResult,
    SessionCreate,
    SessionDetail,
    SessionList,
    SessionOut,
    SessionUpdate,
)

router = APIRouter(prefix="/api/v1/chat", tags=["chat sessions"])


@router.post("/sessions", response_model=SessionOut, status_code=201, summary="Create a session")
async def create_session(body: SessionCreate, caller: CurrentCaller, db: DbSession) -> SessionOut:
    """Start an empty conversation, optionally about one base and with its own model settings
    (model, temperature, max_tokens, thinking_budget)."""
    return await service.create(db, caller.workspace_id, caller.user_id, body)


@router.get("/sessions", response_model=SessionList, summary="List your sessions")
async def list_sessions(
    db: DbSession,
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0),
    base_id: str | None = Query(default=None, max_length=64),
) -> SessionList:
    """Your sessions in the active workspace, most recently active first."""
    return await service.list_sessions(db, limit=limit, offset=offset, base_id=base_id)


@router.get("/search", response_model=SearchResult, summary="Search your messages")
async def search(
    db: DbSession,
    q: str = Query(min_length=1, max_length=500),
    limit: int = Query(default=20, ge=1, le=100),
    session_id: uuid.UUID | None = None,
) -> SearchResult:
    """Full-text search (English stemming, web-search syntax: quotes, OR, -word) over the
    messages of your sessions, best matches first, with highlighted fragments."""
    return await service.search(db, q, limit=limit, session_id=session_id)


@router.get("/sessions/{session_id}", response_model=SessionDetail, summary="Get a session")
async def get_session(
    session_id: uuid.UUID, db: DbSession, limit: int = Query(default=200, ge=1, le=2000)
) -> SessionDetail:
    """A session with its newest ``limit`` messages (oldest first) and pending approvals."""
    return await service.get(db, session_id, limit)


@router.patch("/sessions/{session_id}", response_model=SessionOut, summary="Update a session")
async def update_session(session_id: uuid.UUID, body: SessionUpdate, db: DbSession) -> SessionOut:
    """Rename a session, change its base or its model settings."""
    return await service.update(db, session_id, body)


@router.delete("/sessions/{session_id}", status_code=204, summary="Delete a session")
async def delete_session(session_id: uuid.UUID, db: DbSession) -> Response:
    """Delete a session with its messages."""
    await service.delete(db, session_id)
    return Response(status_code=204)


@router.post("/sessions/{session_id}/clear", response_model=SessionOut, summary="Clear a session")
async def clear_session(session_id: uuid.UUID, db: DbSession) -> SessionOut:
    """Delete a session's messages but keep the session, its settings and its costs."""
    return await service.clear(db, session_id)
