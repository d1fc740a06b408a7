"""Inputs and results of the Airtable service and its REST API (pydantic models).

The same models are returned by :class:`~pyairtable_platform.core.airtable.service.AirtableService`
to every caller (REST, MCP tools, workflows, chat), so they are the one description of what
Airtable access answers.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

Channel = Literal["api", "mcp", "chat", "workflow", "ui"]
Source = Literal["airtable", "cache", "mirror"]


class Freshness(BaseModel):
    """Where an answer came from and how old its data may be."""

    source: Source
    synced_at: datetime | None = None
    age_seconds: float | None = None


# ----- connections ---------------------------------------------------------------------


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="Airtable", min_length=1, max_length=100)
    kind: Literal["airtable", "sandbox"] = "airtable"
    token: SecretStr | None = Field(
        default=None,
        description="Airtable personal access token (kind airtable). For kind sandbox leave "
        "it out: the platform issues a sandbox token for the workspace.",
    )


class ConnectionRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: SecretStr | None = Field(
        default=None, description="the new personal access token (kind sandbox: leave out)"
    )


class ConnectionOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: str
    auth_type: str
    token_hint: str | None
    scopes: list[str]
    status: str
    last_verified_at: datetime | None
    last_error: str | None
    airtable_user_id: str | None = None
    base_count: int = 0
    created_at: datetime
    updated_at: datetime


class ConnectionTest(BaseModel):
    ok: bool
    status: str
    airtable_user_id: str | None = None
    scopes: list[str] = []
    error: str | None = None


# ----- bases and schema ----------------------------------------------------------------


class BaseSummary(BaseModel):
    id: str
    name: str
    permission_level: str | None = None
    connection_id: uuid.UUID
    sync_status: str = "pending"
    last_synced_at: datetime | None = None


class FieldSchema(BaseModel):
    id: str
    name: str
    type: str
    description: str | None = None
    options: dict[str, Any] = {}


class ViewSchema(BaseModel):
    id: str
    name: str
    type: str = "grid"


class TableSchema(BaseModel):
    id: str
    name: str
    description: str | None = None
    primary_field_id: str | None = None
    primary_field_name: str | None = None
    fields: list[FieldSchema] = []
    views: list[ViewSchema] = []

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


class BaseSchema(BaseModel):
    id: str
    name: str | None = None
    tables: list[TableSchema]


# ----- records -------------------------------------------------------------------------


class RecordPage(BaseModel):
    records: list[dict[str, Any]]
    offset: str | None = None
    total: int | None = Field(
        default=None, description="exact number of records in the table (from the mirror)"
    )
    truncated: bool = False
    freshness: Freshness


class FailedRecord(BaseModel):
    index: int = Field(description="position of the record in the request")
    id: str | None = None
    error: str
    detail: str


class WriteOutcome(BaseModel):
    """Which records of a write succeeded and which failed."""

    succeeded: list[dict[str, Any]] = []
    failed: list[FailedRecord] = []
    created_ids: list[str] = []
    updated_ids: list[str] = []

    @property
    def ok(self) -> bool:
        return not self.failed


class RecordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: dict[str, Any]


class RecordUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^rec[A-Za-z0-9]{14}$")
    fields: dict[str, Any]


class CreateRecordsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[RecordIn] = Field(min_length=1, max_length=10_000)
    typecast: bool = False


class UpdateRecordsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[RecordUpdateIn] = Field(min_length=1, max_length=10_000)
    typecast: bool = False


class UpsertRecordsIn(BaseModel):
    records: list[RecordIn] = Field(min_length=1, max_length=10_000)
    merge_on: list[str] = Field(min_length=1, max_length=3, alias="fieldsToMergeOn")
    typecast: bool = False
    replace: bool = False

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DeleteRecordsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(min_length=1, max_length=10_000)

    @field_validator("ids")
    @classmethod
    def _record_ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not (v.startswith("rec") and len(v) == 17)]
        if bad:
            raise ValueError(f"not record ids: {', '.join(bad[:5])}")
        return value


class AttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", max_length=4000)
    filename: str | None = None


class AttachmentsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    attachments: list[AttachmentIn] = Field(min_length=1, max_length=100)


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=10_000)
    parent_comment_id: str | None = None


# ----- tables and fields ---------------------------------------------------------------


class FieldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    type: str
    description: str | None = None
    options: dict[str, Any] | None = None


class TableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    description: str | None = None
    fields: list[FieldIn] = Field(min_length=1)


class RenameIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = None


# ----- aggregates ----------------------------------------------------------------------

MetricOp = Literal["count", "sum", "avg", "min", "max", "count_distinct"]
FilterOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "contains", "empty", "not_empty"]


class Metric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: MetricOp
    field: str | None = Field(default=None, description="not needed for count")

    @property
    def label(self) -> str:
        return f"{self.op}({self.field})" if self.field else self.op


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    op: FilterOp = "eq"
    value: Any = None


class AggregateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metrics: list[Metric] = Field(default_factory=lambda: [Metric(op="count")], min_length=1)
    group_by: list[str] = Field(default_factory=list, max_length=2)
    filters: list[Filter] = Field(default_factory=list, max_length=20)
    limit: int = Field(default=1000, ge=1, le=10_000)


class AggregateGroup(BaseModel):
    key: dict[str, Any]
    values: dict[str, Any]


class AggregateResult(BaseModel):
    groups: list[AggregateGroup]
    total_records: int = Field(description="records of the table matching the filters")
    truncated: bool = False
    freshness: Freshness


# ----- search --------------------------------------------------------------------------


class RecordHit(BaseModel):
    source: Literal["records"] = "records"
    base_id: str
    table_id: str
    table_name: str | None
    record_id: str
    title: str
    snippet: str
    rank: float
    match: Literal["fulltext", "fuzzy"]
    link: str = Field(description="the record in Airtable's UI")
    api_path: str = Field(description="the record through this API")
    synced_at: datetime | None


class OtherHit(BaseModel):
    source: Literal["messages", "files"]
    id: str
    title: str
    snippet: str
    rank: float
    match: Literal["fulltext", "fuzzy"]
    ref: dict[str, Any] = {}


class SearchResult(BaseModel):
    query: str
    hits: list[RecordHit]
    other: list[OtherHit] = []
    freshness: Freshness


# ----- sync ----------------------------------------------------------------------------


class TableSyncStatus(BaseModel):
    table_id: str
    name: str
    status: str
    records: int
    pages_done: int = 0
    done: bool = False
    synced_at: datetime | None


class SyncStatus(BaseModel):
    base_id: str
    status: str
    error: str | None = None
    last_synced_at: datetime | None = None
    last_reconciled_at: datetime | None = None
    job_id: int | None = None
    tables: list[TableSyncStatus] = []


class SyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full: bool = Field(default=False, description="re-read every record and drop deleted ones")
    wait: bool = Field(
        default=False, description="run now and answer when done (else a queued job)"
    )
