"""Inputs and outputs of the actions domain (REST bodies and the MCP tools share them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pyairtable_platform.core.actions.models import Action

Channel = Literal["mcp", "api", "chat", "workflow", "ui"]
RecordOperation = Literal["create", "update", "delete", "upsert"]
SchemaOperation = Literal[
    "create_table", "update_table", "create_field", "update_field", "create_comment"
]
Operation = Literal[
    "create",
    "update",
    "delete",
    "upsert",
    "create_table",
    "update_table",
    "create_field",
    "update_field",
    "create_comment",
    "add_attachments",
]
Status = Literal[
    "previewed",
    "approved",
    "running",
    "done",
    "partially_failed",
    "failed",
    "rejected",
    "expired",
    "reverted",
    "uncertain",
]
# Operations that overwrite or remove data: the ones a key or workspace can require a preview
# for (creates add and can always be undone by a delete).
DESTRUCTIVE: frozenset[str] = frozenset(
    {"update", "delete", "upsert", "update_table", "update_field"}
)
# Kinds of write a revert cannot undo, and why (the action says so; a revert is refused).
NOT_REVERSIBLE: dict[str, str] = {
    "create_table": "Airtable's API cannot delete tables; delete it in Airtable if you must",
    "create_field": "Airtable's API cannot delete fields; delete it in Airtable if you must",
    "create_comment": "comments are not reverted; delete it in Airtable if you must",
    "revert": "a revert cannot itself be reverted; repeat the original write instead",
}


class WriteRequest(BaseModel):
    """One write, as asked for: what the action will do when applied."""

    model_config = ConfigDict(extra="forbid")

    operation: Operation
    base_id: str = Field(min_length=1, max_length=64)
    table: str | None = Field(default=None, description="table id or name")
    records: list[dict[str, Any]] = Field(
        default_factory=list,
        description="create: field dicts or {'fields'}; update/upsert: {'id'?, 'fields'}",
    )
    record_ids: list[str] = Field(default_factory=list, description="delete: record ids")
    typecast: bool = False
    replace: bool = False
    merge_on: list[str] = Field(default_factory=list, description="upsert: 1-3 key fields")
    # Schema and comment writes.
    name: str | None = None
    description: str | None = None
    fields: list[dict[str, Any]] = Field(default_factory=list, description="create_table")
    field: str | None = Field(default=None, description="update_field: field id or name")
    field_type: str | None = Field(default=None, description="create_field: Airtable type")
    options: dict[str, Any] | None = None
    record_id: str | None = Field(
        default=None, description="create_comment, add_attachments: the record"
    )
    text: str | None = Field(default=None, description="create_comment")
    parent_comment_id: str | None = Field(default=None, description="create_comment: a reply")
    attachments: list[dict[str, Any]] = Field(
        default_factory=list, description="add_attachments: [{'url', 'filename'?}]"
    )


class ApplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approval_token: str = Field(min_length=1, max_length=200)


class ActionOut(BaseModel):
    """An action as the API and the tools show it."""

    id: uuid.UUID
    status: Status
    operation: str
    channel: str
    base_id: str
    table_id: str
    table_name: str | None
    record_ids: list[str]
    record_count: int
    summary: str | None
    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime | None
    approved_at: datetime | None
    approved_by: uuid.UUID | None
    executed_at: datetime | None
    reverted_at: datetime | None
    reverted_by: uuid.UUID | None
    revert_of: uuid.UUID | None
    error: str | None
    result: dict[str, Any]
    revertible: bool = Field(description="whether this kind of write can be reverted")
    not_revertible_reason: str | None = None

    @classmethod
    def of(cls, action: Action) -> ActionOut:
        return cls(
            id=action.id,
            status=effective_status(action),
            operation=action.operation,
            channel=action.channel,
            base_id=action.base_id,
            table_id=action.table_id,
            table_name=action.table_name,
            record_ids=list(action.record_ids or [])[:100],
            record_count=len(action.record_ids or []),
            summary=action.summary,
            user_id=action.user_id,
            api_key_id=action.api_key_id,
            created_at=action.created_at,
            expires_at=action.expires_at,
            approved_at=action.approved_at,
            approved_by=action.approved_by,
            executed_at=action.executed_at,
            reverted_at=action.reverted_at,
            reverted_by=action.reverted_by,
            revert_of=action.revert_of,
            error=action.error,
            result=action.result or {},
            revertible=action.operation not in NOT_REVERSIBLE,
            not_revertible_reason=NOT_REVERSIBLE.get(action.operation),
        )


class ActionDetail(ActionOut):
    request: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    audit: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def detail(cls, action: Action, audit: list[dict[str, Any]]) -> ActionDetail:
        base = ActionOut.of(action).model_dump()
        return cls(
            **base, request=action.request, before=action.before, after=action.after, audit=audit
        )


class ActionList(BaseModel):
    actions: list[ActionOut]
    next_before: datetime | None = Field(
        description="pass as ?before= for the next (older) page; null at the end"
    )


class PreviewOut(BaseModel):
    """A previewed write: apply it with the token before it expires."""

    action: ActionOut
    diff: list[dict[str, Any]]
    approval_token: str
    expires_at: datetime


def effective_status(action: Action) -> str:
    if (
        action.status == "previewed"
        and action.expires_at is not None
        and action.expires_at <= datetime.now(UTC)
    ):
        return "expired"
    return action.status
