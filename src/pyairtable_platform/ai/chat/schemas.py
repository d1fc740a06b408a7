"""Chat requests and answers."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=32_000)
    session_id: uuid.UUID | None = None
    base_id: str | None = Field(default=None, min_length=1, max_length=64)
    stream: bool = False


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    stream: bool = False
    reason: str | None = Field(default=None, max_length=2000)


class ChatAnswer(BaseModel):
    """The turn in one JSON document: the same content the event stream carries."""

    session_id: uuid.UUID
    turn_id: str
    message_id: uuid.UUID | None
    status: Literal["completed", "awaiting_approval", "failed", "waiting"]
    text: str
    tool_calls: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    usage: dict[str, Any]
    errors: list[dict[str, Any]]
    alerts: list[dict[str, Any]] = []


class RevertAnswer(BaseModel):
    action_id: str
    status: str
    result: Any
