"""Chat sessions and messages as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SessionSettings(BaseModel):
    """Per-session model choices; unset fields use the workspace or deployment defaults."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, min_length=1, max_length=200)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=16, le=200_000)
    thinking_budget: int | None = Field(default=None, ge=0, le=200_000)


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(default="New chat", max_length=200)
    base_id: str | None = Field(default=None, min_length=1, max_length=64)
    settings: SessionSettings = SessionSettings()


class SessionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    base_id: str | None = Field(default=None, min_length=1, max_length=64)
    settings: SessionSettings | None = None


class SessionOut(BaseModel):
    id: uuid.UUID
    title: str
    base_id: str | None
    settings: dict[str, Any]
    total_messages: int
    total_tokens: int
    total_cost_usd: Decimal
    last_activity_at: datetime
    created_at: datetime


class MessageOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    role: str
    content: str
    tools_used: list[dict[str, Any]]
    token_count: int
    cost_usd: Decimal
    model: str | None
    response_time_ms: int | None
    status: str | None = None


class SessionDetail(SessionOut):
    messages: list[MessageOut]
    pending_approvals: list[dict[str, Any]]


class SessionList(BaseModel):
    sessions: list[SessionOut]
    total: int


class SearchHit(BaseModel):
    message_id: uuid.UUID
    session_id: uuid.UUID
    session_title: str
    role: str
    created_at: datetime
    rank: float
    highlight: str


class SearchResult(BaseModel):
    query: str
    hits: list[SearchHit]
