"""Table analysis: an LLM review of one table's structure and data quality, done with core's
read-only MCP tools as the calling user, stored in ``analysis_reports``, optionally written
back into the base as a record of a metadata table.

Like a chat turn: the provider is resolved and the budget checked before any provider is
contacted; every LLM call is one ``api_usage_logs`` row (``endpoint = 'analysis'``); budget
alerts are written after. Unlike chat, the model only gets read tools (it cannot propose
writes) and answers a typed :class:`AnalysisOutput`. The table's schema is fetched first,
without the model (``describe_table``): an unknown table is refused before the provider is
paid, and the model starts one round trip ahead.

Write-back is the user's explicit request (``write_back: true``), so its writes are previewed
and applied at once through the same safe-write path as every other write (``preview_changes``
then ``apply_action``): each is an action that ``list_actions`` shows with channel ``chat`` and
``revert_action`` undoes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from pydantic_ai import Agent
from pydantic_ai.exceptions import (
    AgentRunError,
    ModelAPIError,
    ModelHTTPError,
    ModelRetry,
    ToolFailed,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
)
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.usage import UsageLimits
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.ai.analysis import repository
from pyairtable_platform.ai.analysis.exceptions import AnalysisFailed, AnalysisTargetNotFound
from pyairtable_platform.ai.analysis.schemas import (
    SEVERITIES,
    AnalysisList,
    AnalysisOutput,
    AnalysisReport,
    AnalysisRequest,
    AnalysisUsage,
    Finding,
    ToolUse,
    WriteBack,
)
from pyairtable_platform.ai.budgets import service as budgets
from pyairtable_platform.ai.chat.mcp import ToolError
from pyairtable_platform.ai.chat.tools import ChatToolset, ToolJournal, serialise
from pyairtable_platform.ai.costs import repository as costs_repo
from pyairtable_platform.ai.costs.pricing import TokenUsage
from pyairtable_platform.ai.deps import Caller
from pyairtable_platform.ai.providers import service as providers
from pyairtable_platform.ai.providers.service import (
    PRICE_PROVIDER_IDS,
    ProviderConfig,
    SessionModelSettings,
)
from pyairtable_platform.ai.state import AiState
from pyairtable_platform.kit.context import current_request_id
from pyairtable_platform.kit.db import unit_of_work
from pyairtable_platform.kit.errors import NotFound

logger = logging.getLogger(__name__)

# Tool definitions and instructions, for the pre-flight estimate (as chat).
TOOLS_OVERHEAD_TOKENS = 2_000
OUTPUT_TOOL = "final_result"  # pydantic-ai's default name for the typed answer's tool
SCHEMA_CHARS = 12_000  # the prefetched schema in the prompt is cut beyond this

INSTRUCTIONS = """You review one Airtable table for its owner: its structure (field types, \
naming, primary field, links, descriptions) and the quality of its data (empty and rarely \
filled fields, inconsistent values, duplicates, outliers). Its schema is given below. Gather \
evidence with the tools before you judge: analyze_table_data for fill rates and value \
statistics, find_duplicates on the fields that should identify a record, aggregate_records \
for exact counts and sums, search_records or list_records (few fields) to look at examples. \
Use a handful of calls, not dozens. Then answer with your findings, each with a severity \
(high: data is wrong or lost; medium: likely errors or a structure that gets in the way; low: \
minor or cosmetic; info: a neutral observation) and the numbers behind it, and concrete \
suggestions. You cannot change anything; do not offer to."""

WRITE_BACK_FIELDS: list[dict[str, Any]] = [
    {"name": "Table", "type": "singleLineText"},
    {"name": "Summary", "type": "multilineText"},
    {"name": "Findings", "type": "multilineText"},
    {"name": "Suggestions", "type": "multilineText"},
    {"name": "Highest Severity", "type": "singleLineText"},
    {"name": "Findings Count", "type": "number", "options": {"precision": 0}},
    {"name": "Report ID", "type": "singleLineText"},
    {"name": "Model", "type": "singleLineText"},
    {"name": "Analysis Date", "type": "singleLineText"},
]


@dataclass
class _Run:
    """What the analysis spent and did, filled as it goes (kept when it fails half-way)."""

    usage_rows: list[costs_repo.UsageRow] = field(default_factory=list)
    tokens: TokenUsage = field(default_factory=TokenUsage)
    cost: Decimal = Decimal(0)
    tools: list[ToolUse] = field(default_factory=list)


def _read_only(tool: ToolDefinition) -> bool:
    annotations = (tool.metadata or {}).get("annotations") or {}
    return bool(annotations.get("readOnlyHint", False))


def _json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _classify(exc: BaseException) -> str:
    if isinstance(exc, ModelHTTPError):
        return f"the LLM provider answered {exc.status_code}: {str(exc.body)[:300]}"
    if isinstance(exc, ModelAPIError):
        return f"the LLM provider failed: {exc}"
    if isinstance(exc, UsageLimitExceeded):
        return f"the analysis hit a limit: {exc}"
    if isinstance(exc, TimeoutError):
        return "the analysis took longer than AI_TURN_TIMEOUT_SECONDS and was stopped"
    if isinstance(exc, UnexpectedModelBehavior):
        return f"the model did not produce a usable report: {exc}"
    if isinstance(exc, AgentRunError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"cannot reach the platform's MCP server: {exc}"
    return "the analysis failed unexpectedly; it was recorded"


def _findings_text(findings: list[Finding]) -> str:
    return "\n".join(
        f"[{f.severity}] {f.title}: {f.detail}"
        + (f" (fields: {', '.join(f.fields)})" if f.fields else "")
        for f in findings
    )


def to_report(row: dict[str, Any]) -> AnalysisReport:
    meta = row["metadata"] or {}
    usage = meta.get("usage")
    write_back = meta.get("write_back")
    return AnalysisReport(
        id=row["id"],
        base_id=row["base_id"],
        table=row["table_name"],
        status=row["status"],
        provider=meta.get("provider"),
        model=meta.get("model"),
        summary=row["report"],
        findings=[Finding.model_validate(f) for f in meta.get("findings", [])],
        suggestions=list(meta.get("suggestions", [])),
        tools_used=[ToolUse.model_validate(t) for t in row["tools_used"] or []],
        usage=AnalysisUsage.model_validate(usage) if usage else None,
        cost_usd=str(row["cost_usd"]),
        write_back=WriteBack.model_validate(write_back) if write_back else None,
        error=meta.get("error"),
        created_by=row["user_id"],
        created_at=row["created_at"],
    )


class AnalysisService:
    def __init__(self, state: AiState) -> None:
        self.state = state
        self.settings = state.settings

    async def analyse(self, caller: Caller, body: AnalysisRequest) -> AnalysisReport:
        """Run, store and return the analysis of one table. Refuses before the provider is
        contacted (no provider 503, budget 429, unknown table 404); a provider failure is
        stored as a ``failed`` report and answered 502 with its id."""
        factory = self.state.session_factory
        async with unit_of_work(
            factory, user_id=caller.user_id, workspace_id=caller.workspace_id
        ) as db:
            config = await providers.resolve(db, caller.workspace_id, self.settings, self.state.box)
        run = _Run()
        schema = await self._describe(caller, body, run)
        prompt = self._prompt(body, schema)
        async with unit_of_work(
            factory, user_id=caller.user_id, workspace_id=caller.workspace_id
        ) as db:
            estimate = self.state.prices.estimate(
                config.model,
                PRICE_PROVIDER_IDS[config.provider],
                len(prompt) // 4 + TOOLS_OVERHEAD_TOKENS,
                self.settings.default_max_output_tokens,
            )
            await budgets.preflight(db, user_id=caller.user_id, session_id=None, estimate=estimate)

        report_id = uuid.uuid4()
        started = time.perf_counter()
        output: AnalysisOutput | None = None
        error: str | None = None
        try:
            output = await self._run_agent(caller, config, report_id, prompt, run)
        except Exception as exc:  # a failed analysis is stored and answered, never a 500
            error = _classify(exc)
            if error.startswith("the analysis failed unexpectedly"):
                logger.exception("table analysis failed", exc_info=exc)
        write_back: WriteBack | None = None
        if output is not None and body.write_back:
            try:
                write_back = await self._write_back(caller, body, report_id, output, config)
            # A tool's refusal (e.g. a read-only API key) or an unexpected answer: the report
            # stands, and says why it is not in the base.
            except (ToolError, ModelRetry, ToolFailed, OSError, TimeoutError, KeyError) as exc:
                error = f"the report was not written back to the base: {exc}"

        elapsed_ms = int((time.perf_counter() - started) * 1000)
        usage = AnalysisUsage(
            llm_calls=sum(1 for row in run.usage_rows if row.success),
            input_tokens=run.tokens.input_tokens,
            output_tokens=run.tokens.output_tokens,
            cached_tokens=run.tokens.cached_tokens,
            thinking_tokens=run.tokens.thinking_tokens,
            cost_usd=str(run.cost),
        )
        metadata: dict[str, Any] = {
            "provider": config.provider,
            "model": config.model,
            "findings": [f.model_dump() for f in output.findings] if output else [],
            "suggestions": output.suggestions if output else [],
            "usage": usage.model_dump(),
            "write_back": write_back.model_dump() if write_back else None,
            "error": error,
            "focus": body.focus,
            "elapsed_ms": elapsed_ms,
            "request_id": current_request_id(),
        }
        async with unit_of_work(
            factory, user_id=caller.user_id, workspace_id=caller.workspace_id
        ) as db:
            await costs_repo.insert_usage(db, run.usage_rows)
            row = await repository.insert(
                db,
                report_id=report_id,
                workspace_id=caller.workspace_id,
                user_id=caller.user_id,
                base_id=body.base_id,
                table_name=body.table,
                status="done" if output is not None else "failed",
                report=output.summary if output else "",
                tools_used=[t.model_dump() for t in run.tools],
                cost_usd=run.cost,
                metadata=metadata,
            )
            await budgets.after_turn(
                db, workspace_id=caller.workspace_id, user_id=caller.user_id, session_id=None
            )
        if output is None:
            raise AnalysisFailed(
                f"{error} (report {report_id} records the attempt)",
                extra={"report_id": str(report_id)},
            )
        return to_report(row)

    # --- steps ------------------------------------------------------------------------------

    async def _describe(self, caller: Caller, body: AnalysisRequest, run: _Run) -> Any:
        """The table's schema, read without the model; an unknown base or table is a 404."""
        arguments = {"base_id": body.base_id, "table": body.table}
        toolset = self.state.mcp.toolset(
            caller.credential, session_id=None, tool_error_behavior="error"
        )
        try:
            async with toolset:
                schema = await toolset.direct_call_tool("describe_table", arguments)
        except ToolError as exc:
            raise AnalysisTargetNotFound(
                f"cannot analyse table {body.table!r} of base {body.base_id}: {exc}"
            ) from exc
        run.tools.append(
            ToolUse(
                id="schema",
                name="describe_table",
                arguments=arguments,
                size=len(serialise(schema)),
            )
        )
        return schema

    def _prompt(self, body: AnalysisRequest, schema: Any) -> str:
        text = serialise(schema)
        if len(text) > SCHEMA_CHARS:
            text = text[:SCHEMA_CHARS] + f"\n[schema truncated: {len(text)} characters]"
        parts = [
            f"Analyse the table {body.table!r} of the Airtable base {body.base_id}.",
            f"Its schema (describe_table):\n{text}",
        ]
        if body.focus:
            parts.append(f"The owner asks you to look especially at: {body.focus}")
        return "\n\n".join(parts)

    async def _run_agent(
        self,
        caller: Caller,
        config: ProviderConfig,
        report_id: uuid.UUID,
        prompt: str,
        run: _Run,
    ) -> AnalysisOutput:
        journal = ToolJournal()
        inner = self.state.mcp.toolset(caller.credential, session_id=None)
        toolset = ChatToolset(
            inner.filtered(lambda _ctx, tool: _read_only(tool)),
            max_chars=self.settings.tool_result_max_chars,
            journal=journal,
        )
        agent: Agent[None, AnalysisOutput] = Agent(
            self.state.models.get(config, config.model),
            output_type=AnalysisOutput,
            instructions=INSTRUCTIONS,
            toolsets=[toolset],
        )
        limits = UsageLimits(
            request_limit=self.settings.max_model_requests_per_turn,
            tool_calls_limit=self.settings.max_tool_calls_per_turn,
        )
        settings = providers.model_settings(config, SessionModelSettings(), self.settings)
        who: dict[str, Any] = {"caller": caller, "config": config, "report_id": report_id}
        messages: list[ModelMessage] = []
        try:
            async with asyncio.timeout(self.settings.turn_timeout_seconds):
                async with agent.iter(prompt, usage_limits=limits, model_settings=settings) as it:
                    try:
                        node = it.next_node
                        while not Agent.is_end_node(node):
                            if not Agent.is_model_request_node(node):
                                node = await it.next(node)
                                continue
                            requested_at = time.perf_counter()
                            try:
                                node = await it.next(node)
                            except ModelAPIError as exc:
                                self._failed_call(run, exc, requested_at, **who)
                                raise
                            if Agent.is_call_tools_node(node):
                                self._call(run, node.model_response, requested_at, **who)
                    finally:
                        messages = it.all_messages()
                    result = it.result
                    assert result is not None
                    return result.output
        finally:
            run.tools.extend(_tools_used(messages, journal))

    # --- accounting ---------------------------------------------------------------------------

    def _call(
        self,
        run: _Run,
        response: ModelResponse,
        requested_at: float,
        *,
        caller: Caller,
        config: ProviderConfig,
        report_id: uuid.UUID,
    ) -> None:
        usage = TokenUsage.from_request_usage(response.usage)
        override = config.model if config.model in self.settings.model_prices else None
        price = self.state.prices.price(
            usage,
            override or response.model_name or config.model,
            PRICE_PROVIDER_IDS[config.provider],
        ).cost_usd
        run.cost += price
        run.tokens = TokenUsage(
            run.tokens.input_tokens + usage.input_tokens,
            run.tokens.output_tokens + usage.output_tokens,
            run.tokens.cached_tokens + usage.cached_tokens,
            run.tokens.thinking_tokens + usage.thinking_tokens,
        )
        run.usage_rows.append(
            self._row(
                caller,
                config,
                report_id,
                usage=usage,
                cost=price,
                latency_ms=int((time.perf_counter() - requested_at) * 1000),
                success=True,
                response_model=response.model_name,
            )
        )

    def _failed_call(
        self,
        run: _Run,
        exc: ModelAPIError,
        requested_at: float,
        *,
        caller: Caller,
        config: ProviderConfig,
        report_id: uuid.UUID,
    ) -> None:
        run.usage_rows.append(
            self._row(
                caller,
                config,
                report_id,
                usage=TokenUsage(),
                cost=Decimal(0),
                latency_ms=int((time.perf_counter() - requested_at) * 1000),
                success=False,
                response_model=None,
                status_code=exc.status_code if isinstance(exc, ModelHTTPError) else None,
                error=str(exc)[:500],
            )
        )

    def _row(
        self,
        caller: Caller,
        config: ProviderConfig,
        report_id: uuid.UUID,
        *,
        usage: TokenUsage,
        cost: Decimal,
        latency_ms: int,
        success: bool,
        response_model: str | None,
        status_code: int | None = None,
        error: str | None = None,
    ) -> costs_repo.UsageRow:
        return costs_repo.UsageRow(
            workspace_id=caller.workspace_id,
            user_id=caller.user_id,
            session_id=None,
            request_id=current_request_id(),
            provider=config.provider,
            model=config.model,
            endpoint="analysis",
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            thinking_tokens=usage.thinking_tokens,
            cost_usd=cost,
            latency_ms=latency_ms,
            success=success,
            status_code=status_code,
            error_message=error,
            metadata={"analysis_id": str(report_id), "response_model": response_model},
        )

    # --- write-back -------------------------------------------------------------------------

    async def _write_back(
        self,
        caller: Caller,
        body: AnalysisRequest,
        report_id: uuid.UUID,
        output: AnalysisOutput,
        config: ProviderConfig,
    ) -> WriteBack:
        """One record per report in the metadata table (created when missing), each write a
        preview applied at once: the user asked for it with ``write_back``."""
        toolset = self.state.mcp.toolset(
            caller.credential, session_id=None, tool_error_behavior="error"
        )
        actions: list[str] = []

        async with toolset:

            async def write(arguments: dict[str, Any]) -> dict[str, Any]:
                preview = _json(await toolset.direct_call_tool("preview_changes", arguments))
                applied = _json(
                    await toolset.direct_call_tool(
                        "apply_action",
                        {
                            "action_id": preview["action_id"],
                            "approval_token": preview["approval_token"],
                        },
                    )
                )
                actions.append(str(preview["action_id"]))
                return applied if isinstance(applied, dict) else {}

            listed = _json(
                await toolset.direct_call_tool(
                    "list_tables", {"base_id": body.base_id, "detail": "ids"}
                )
            )
            wanted = body.write_back_table.strip().lower()
            exists = any(str(t.get("name", "")).lower() == wanted for t in listed.get("tables", []))
            if not exists:
                await write(
                    {
                        "operation": "create_table",
                        "base_id": body.base_id,
                        "name": body.write_back_table,
                        "description": "Table analyses by PyAirtable Platform (/api/v1/analysis)",
                        "fields": WRITE_BACK_FIELDS,
                    }
                )
            severities = {f.severity for f in output.findings}
            highest = next((s for s in SEVERITIES if s in severities), "none")
            created = await write(
                {
                    "operation": "create",
                    "base_id": body.base_id,
                    "table": body.write_back_table,
                    "typecast": True,
                    "records": [
                        {
                            "Table": body.table,
                            "Summary": output.summary,
                            "Findings": _findings_text(output.findings),
                            "Suggestions": "\n".join(f"- {s}" for s in output.suggestions),
                            "Highest Severity": highest,
                            "Findings Count": len(output.findings),
                            "Report ID": str(report_id),
                            "Model": config.model,
                            "Analysis Date": datetime.now(UTC).date().isoformat(),
                        }
                    ],
                }
            )
        record_ids = [str(r["id"]) for r in created.get("records", [])] or [
            str(i) for i in created.get("created_ids", [])
        ]
        return WriteBack(
            table=body.write_back_table,
            table_created=not exists,
            record_ids=record_ids,
            action_ids=actions,
        )

    # --- reading ----------------------------------------------------------------------------

    @staticmethod
    async def list_reports(
        db: AsyncSession, *, base_id: str | None, table: str | None, limit: int, offset: int
    ) -> AnalysisList:
        """The workspace's reports, newest first."""
        rows, total = await repository.list_reports(
            db, base_id=base_id, table_name=table, limit=limit, offset=offset
        )
        return AnalysisList(items=[to_report(r) for r in rows], total=total)

    @staticmethod
    async def get(db: AsyncSession, report_id: uuid.UUID) -> AnalysisReport:
        """One report of the workspace (404 otherwise, also for other workspaces' reports)."""
        row = await repository.get(db, report_id)
        if row is None:
            raise NotFound(f"analysis report {report_id} not found")
        return to_report(row)


def _tools_used(messages: list[ModelMessage], journal: ToolJournal) -> list[ToolUse]:
    """The model's tool calls (not its final answer), with the true size or error of each."""
    calls: dict[str, ToolUse] = {}
    for message in messages:
        if isinstance(message, ModelResponse):
            for part in message.parts:
                if isinstance(part, ToolCallPart) and part.tool_name != OUTPUT_TOOL:
                    calls[part.tool_call_id] = ToolUse(
                        id=part.tool_call_id, name=part.tool_name, arguments=part.args_as_dict()
                    )
        elif isinstance(message, ModelRequest):
            for request_part in message.parts:
                if not isinstance(request_part, ToolReturnPart | RetryPromptPart):
                    continue
                use = calls.get(request_part.tool_call_id)
                if use is None:
                    continue
                entry = journal.get(request_part.tool_call_id)
                if isinstance(request_part, ToolReturnPart):
                    use.size = entry.size or len(serialise(request_part.content))
                else:
                    use.error = entry.error or str(request_part.content)[:500]
    return list(calls.values())
