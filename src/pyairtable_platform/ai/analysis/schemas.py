"""Table analysis: the request, what the model must answer, and the stored report."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Severity = Literal["high", "medium", "low", "info"]
SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low", "info")
DEFAULT_WRITE_BACK_TABLE = "Table Analysis"


class AnalysisRequest(BaseModel):
    base_id: str = Field(min_length=3, max_length=64, pattern=r"^app[A-Za-z0-9]+$")
    table: str = Field(min_length=1, max_length=255, description="table id or name")
    write_back: bool = Field(
        default=False,
        description="also write the report into the base, as a record of a metadata table",
    )
    write_back_table: str = Field(
        default=DEFAULT_WRITE_BACK_TABLE,
        min_length=1,
        max_length=255,
        description="the metadata table the report is written to (created when missing)",
    )
    focus: str | None = Field(
        default=None, max_length=2000, description="what to look at especially, in words"
    )


class Finding(BaseModel):
    """One problem or observation about the table."""

    severity: Severity = Field(
        description="high: data is wrong or lost; medium: likely errors or hard-to-use "
        "structure; low: cosmetic or minor; info: a neutral observation"
    )
    category: str = Field(
        max_length=64,
        description="structure, data_quality, duplicates, naming, field_types, relationships",
    )
    title: str = Field(max_length=200)
    detail: str = Field(max_length=2000, description="the evidence: numbers from the tools")
    fields: list[str] = Field(default_factory=list, description="the fields concerned")


class AnalysisOutput(BaseModel):
    """The review of one Airtable table: what the model returns at the end."""

    summary: str = Field(max_length=4000, description="a few sentences for the table's owner")
    findings: list[Finding] = Field(default_factory=list, max_length=50)
    suggestions: list[str] = Field(
        default_factory=list, max_length=20, description="concrete changes, most useful first"
    )


class ToolUse(BaseModel):
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    size: int | None = None
    error: str | None = None


class AnalysisUsage(BaseModel):
    llm_calls: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    thinking_tokens: int
    cost_usd: str


class WriteBack(BaseModel):
    table: str
    table_created: bool
    record_ids: list[str]
    action_ids: list[str]
    channel: Literal["chat"] = "chat"


class AnalysisReport(BaseModel):
    id: uuid.UUID
    base_id: str
    table: str
    status: Literal["done", "failed"]
    provider: str | None = None
    model: str | None = None
    summary: str
    findings: list[Finding] = Field(default_factory=list)
    suggestions: list[str] = Field(default_factory=list)
    tools_used: list[ToolUse] = Field(default_factory=list)
    usage: AnalysisUsage | None = None
    cost_usd: str
    write_back: WriteBack | None = None
    error: str | None = None
    created_by: uuid.UUID | None = None
    created_at: datetime


class AnalysisList(BaseModel):
    items: list[AnalysisReport]
    total: int
