"""Table analysis endpoints (``/api/v1/analysis``)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from pyairtable_platform.ai.analysis.schemas import AnalysisList, AnalysisReport, AnalysisRequest
from pyairtable_platform.ai.analysis.service import AnalysisService
from pyairtable_platform.ai.db import DbSession
from pyairtable_platform.ai.deps import CurrentCaller, StateDep

router = APIRouter(prefix="/api/v1/analysis", tags=["analysis"])


@router.post("", response_model=AnalysisReport, status_code=201, summary="Analyse a table")
async def analyse_table(
    body: AnalysisRequest, caller: CurrentCaller, state: StateDep
) -> AnalysisReport:
    """An LLM review of one table's structure and data quality, made with the platform's
    read-only MCP tools as you (describe_table, analyze_table_data, find_duplicates,
    aggregate_records…). Answers the stored report: summary, findings with severity,
    suggestions, the tools used, tokens and cost. With ``write_back: true`` the report is also
    written into the base, as one record of the metadata table ``write_back_table`` (created
    when missing); those writes are actions (channel ``chat``) that can be reverted.

    Refused before the provider is contacted: 503 ``llm_not_configured``, 404 for an unknown
    base or table, 429 ``budget_exceeded``. A provider failure answers 502 ``analysis_failed``
    and is stored as a ``failed`` report."""
    return await AnalysisService(state).analyse(caller, body)


@router.get("", response_model=AnalysisList, summary="List analysis reports")
async def list_reports(
    db: DbSession,
    base_id: str | None = Query(default=None, max_length=64),
    table: str | None = Query(default=None, max_length=255),
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0),
) -> AnalysisList:
    """The workspace's table analyses, newest first, optionally of one base or table."""
    return await AnalysisService.list_reports(
        db, base_id=base_id, table=table, limit=limit, offset=offset
    )


@router.get("/{report_id}", response_model=AnalysisReport, summary="Get an analysis report")
async def get_report(report_id: uuid.UUID, db: DbSession) -> AnalysisReport:
    """One analysis report of the workspace."""
    return await AnalysisService.get(db, report_id)
