"""A chat turn: checks before the provider is contacted (session, provider, history, budget),
then the agent loop in a detached task that streams events, and the turn's record at the end
(messages, one ``api_usage_logs`` row per LLM call, approvals, budget alerts).

The loop is pydantic-ai's agent graph, driven node by node (``agent.iter``) so each LLM call's
usage and latency are known as soon as it returns. Writes the model proposes are previews that
end the run with ``DeferredToolRequests``; the user's decision resumes it with
``DeferredToolResults`` in the same turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults
from pydantic_ai.exceptions import (
    AgentRunError,
    ModelAPIError,
    ModelHTTPError,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
)
from pydantic_ai.messages import (
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelMessage,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ToolReturnPart,
)
from pydantic_ai.toolsets import AbstractToolset
from pydantic_ai.usage import UsageLimits

from pyairtable_platform.ai.budgets import service as budgets
from pyairtable_platform.ai.chat import history as history_mod
from pyairtable_platform.ai.chat import mcp
from pyairtable_platform.ai.chat import repository as approvals_repo
from pyairtable_platform.ai.chat.events import ChatEvent
from pyairtable_platform.ai.chat.runner import TurnHandle
from pyairtable_platform.ai.chat.schemas import ApprovalDecision, ChatAnswer, ChatRequest
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
from pyairtable_platform.ai.sessions import repository as sessions_repo
from pyairtable_platform.ai.state import AiState
from pyairtable_platform.kit.context import current_request_id, request_id_var
from pyairtable_platform.kit.db import unit_of_work
from pyairtable_platform.kit.errors import Conflict, NotFound

logger = logging.getLogger(__name__)

# Tokens the tool definitions and instructions add to every request, for the pre-flight estimate.
TOOLS_OVERHEAD_TOKENS = 2_000
TITLE_LENGTH = 80

INSTRUCTIONS = """You are the assistant of PyAirtable Platform: you help people work with their \
Airtable bases through the tools you have. Start from list_bases, then describe_table before \
reading records; prefer aggregate_records for counts and sums and search_records for finding \
records by text; ask for only the fields you need. Writes (create, update, upsert, delete) are \
shown to the user as a preview and run only when they approve: propose them with the write \
tools, and never claim a change was made before the tool result says it was applied. If a tool \
result says it was truncated, narrow the next call. Answer concisely."""


@dataclass
class TurnSetup:
    caller: Caller
    session_id: uuid.UUID
    turn_id: str
    config: ProviderConfig
    model_name: str
    session_settings: SessionModelSettings
    history: list[ModelMessage]
    base_id: str | None
    request_id: str | None
    prompt: str | None = None
    # When the user asked (``time.monotonic()``; the prompt is stored with the answer).
    asked_at: float | None = None
    deferred: DeferredToolResults | None = None
    # Results already produced before the model runs again (applying an approved action).
    preamble_tools: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TurnRecord:
    text: list[str] = field(default_factory=list)
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    usage_rows: list[costs_repo.UsageRow] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    cost: Decimal = Decimal(0)
    tokens: TokenUsage = field(default_factory=TokenUsage)


def _instructions(base_id: str | None, dropped: int) -> str:
    parts = [INSTRUCTIONS]
    if base_id:
        parts.append(f"This conversation is about the Airtable base {base_id}.")
    if dropped:
        parts.append(
            f"{dropped} earlier turn(s) of this conversation were left out to fit the context "
            "window; ask the user if you need something from them."
        )
    return "\n\n".join(parts)


def _summary(value: Any, limit: int = 200) -> str:
    text = serialise(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ChatService:
    def __init__(self, state: AiState) -> None:
        self.state = state
        self.settings = state.settings

    # --- before the provider is contacted -------------------------------------------------

    async def start(self, caller: Caller, body: ChatRequest) -> TurnSetup:
        """Check the turn; everything that can refuse a turn happens here."""
        asked_at = time.monotonic()
        factory = self.state.session_factory
        async with unit_of_work(
            factory, user_id=caller.user_id, workspace_id=caller.workspace_id
        ) as db:
            if body.session_id is None:
                title = " ".join(body.message.split())[:TITLE_LENGTH]
                session = await sessions_repo.create(
                    db,
                    workspace_id=caller.workspace_id,
                    user_id=caller.user_id,
                    title=title,
                    base_id=body.base_id,
                    settings={},
                )
            else:
                found = await sessions_repo.get(db, body.session_id)
                if found is None:
                    raise NotFound(f"chat session {body.session_id} not found")
                session = found
                if body.base_id and body.base_id != session["base_id"]:
                    await sessions_repo.update(db, session["id"], {"base_id": body.base_id})
                    session["base_id"] = body.base_id
                waiting = await approvals_repo.pending(db, session["id"])
                if waiting:
                    ids = ", ".join(a["action_id"] for a in waiting)
                    raise Conflict(
                        f"this session waits for a decision on action(s) {ids}: POST "
                        f"/api/v1/chat/sessions/{session['id']}/approvals/<action> with "
                        '{"decision": "approve"} or {"decision": "reject"} first'
                    )
            setup = await self._prepare(
                db, caller, session, prompt=body.message, new=body.session_id is None
            )
        # The user's message is stored with the answer, in the turn's one closing transaction
        # (``_store``), dated when it was asked.
        setup.asked_at = asked_at
        return setup

    async def _prepare(
        self,
        db: Any,
        caller: Caller,
        session: dict[str, Any],
        *,
        prompt: str | None,
        turn_id: str | None = None,
        new: bool = False,
    ) -> TurnSetup:
        config = await providers.resolve(db, caller.workspace_id, self.settings, self.state.box)
        session_settings = SessionModelSettings.from_json(session.get("settings"))
        model_name = session_settings.model or config.model
        max_output = session_settings.max_tokens or self.settings.default_max_output_tokens
        rows = [] if new else await sessions_repo.messages(db, session["id"])
        turns = history_mod.turns_from_rows(rows)
        budget = self.settings.context_tokens - max_output - TOOLS_OVERHEAD_TOKENS
        fitted = history_mod.fit(turns, max(budget, 1_000))
        prompt_tokens = history_mod.estimate_tokens(len(prompt or ""))
        estimate = self.state.prices.estimate(
            model_name,
            PRICE_PROVIDER_IDS[config.provider],
            fitted.tokens + prompt_tokens + TOOLS_OVERHEAD_TOKENS,
            max_output,
        )
        await budgets.preflight(
            db, user_id=caller.user_id, session_id=session["id"], estimate=estimate
        )
        return TurnSetup(
            caller=caller,
            session_id=session["id"],
            turn_id=turn_id or uuid.uuid4().hex,
            config=config,
            model_name=model_name,
            session_settings=session_settings,
            history=fitted.messages,
            base_id=session["base_id"],
            request_id=current_request_id(),
            prompt=prompt,
        )

    async def decide(
        self, caller: Caller, session_id: uuid.UUID, action_id: str, body: ApprovalDecision
    ) -> tuple[TurnSetup | None, dict[str, Any]]:
        """Record the user's decision on a proposed write. Returns the setup to continue the
        turn with once every write of that turn is decided, else ``None``."""
        factory = self.state.session_factory
        async with unit_of_work(
            factory, user_id=caller.user_id, workspace_id=caller.workspace_id
        ) as db:
            session = await sessions_repo.get(db, session_id)
            if session is None:
                raise NotFound(f"chat session {session_id} not found")
            approval = await approvals_repo.get(db, session_id, action_id)
            if approval is None:
                raise NotFound(f"no proposed action {action_id} in this session")
            status = "approved" if body.decision == "approve" else "rejected"
            if not await approvals_repo.decide(db, approval["id"], status):
                raise Conflict(f"action {action_id} was already {approval['status']}")
            others = await approvals_repo.of_turn(db, session_id, approval["turn_id"])
            if any(a["status"] == "pending" for a in others):
                return None, approval
            setup = await self._prepare(
                db, caller, session, prompt=None, turn_id=approval["turn_id"]
            )
        return setup, approval

    # --- the turn itself ------------------------------------------------------------------

    async def toolset(self, setup: TurnSetup, journal: ToolJournal) -> AbstractToolset[Any]:
        inner = await self.state.mcp.user_toolset(setup.caller.credential)
        return ChatToolset(inner, max_chars=self.settings.tool_result_max_chars, journal=journal)

    async def resolve_approvals(self, setup: TurnSetup, handle: TurnHandle) -> None:
        """Apply the approved writes of a paused turn (as the user) and build the results the
        model sees for every write of that turn."""
        factory = self.state.session_factory
        caller = setup.caller
        async with unit_of_work(
            factory, user_id=caller.user_id, workspace_id=caller.workspace_id
        ) as db:
            decided = await approvals_repo.of_turn(db, setup.session_id, setup.turn_id)
        results: dict[str, Any] = {}
        for approval in decided:
            if approval["result"] is not None:
                results[approval["tool_call_id"]] = approval["result"]
                continue
            if approval["status"] == "approved":
                token = None
                if approval["approval_token_encrypted"]:
                    token = self.state.box.decrypt_str(
                        approval["approval_token_encrypted"],
                        associated_data=f"approval:{approval['action_id']}",
                    )
                try:
                    applied = await self.state.mcp.call(
                        caller.credential,
                        "apply_action",
                        {"action_id": approval["action_id"], "approval_token": token},
                        session_id=setup.session_id,
                    )
                    result = {"status": "applied", "result": applied}
                    final = "approved"
                except mcp.ToolCallFailed as exc:
                    result = {"status": "failed", "error": exc.detail}
                    final = "failed"
                    handle.emit(
                        ChatEvent(
                            "error",
                            {"kind": "tool_error", "tool": "apply_action", "message": exc.detail},
                        )
                    )
            else:
                result = {
                    "status": "rejected",
                    "message": "The user rejected this change; it was not made. Do not retry "
                    "it unless they ask.",
                }
                final = "rejected"
            handle.emit(
                ChatEvent(
                    "tool_result",
                    {
                        "id": approval["tool_call_id"],
                        "name": approval["tool_name"],
                        "action_id": approval["action_id"],
                        "summary": _summary(result),
                        "size": len(serialise(result)),
                        "truncated": False,
                    },
                )
            )
            async with unit_of_work(
                factory, user_id=caller.user_id, workspace_id=caller.workspace_id
            ) as db:
                await approvals_repo.set_result(db, approval["id"], final, result)
            results[approval["tool_call_id"]] = result
            setup.preamble_tools.append(
                {
                    "id": approval["tool_call_id"],
                    "name": approval["tool_name"],
                    "action_id": approval["action_id"],
                    "decision": final,
                }
            )
        setup.deferred = DeferredToolResults(calls=results)

    async def run(self, setup: TurnSetup, handle: TurnHandle) -> None:
        """Run the turn to its end, emitting events; always ends with ``message_end``."""
        token = request_id_var.set(setup.request_id)
        started = time.perf_counter()
        record = TurnRecord()
        clock = mcp.TurnContext(session_id=setup.session_id, request_id=setup.request_id)
        clock_token = mcp.current_turn.set(clock)
        handle.emit(
            ChatEvent(
                "message_start",
                {
                    "session_id": str(setup.session_id),
                    "turn_id": setup.turn_id,
                    "provider": setup.config.provider,
                    "model": setup.model_name,
                    "resumed": setup.prompt is None,
                },
            )
        )
        new_messages: list[ModelMessage] = []
        status = "failed"
        try:
            if setup.prompt is None:
                await self.resolve_approvals(setup, handle)
            new_messages, status = await self._loop(setup, handle, record)
        except (
            Exception
        ) as exc:  # every failure becomes a clean error event, never a dropped stream
            kind, message = _classify(exc)
            if kind == "internal":
                logger.exception("chat turn failed", exc_info=exc)
            record.errors.append({"kind": kind, "message": message})
            handle.emit(ChatEvent("error", {"kind": kind, "message": message}))
        finally:
            elapsed_ms = int((time.perf_counter() - started) * 1000)
            try:
                message_id, alerts = await self._store(
                    setup, record, new_messages, status, elapsed_ms
                )
            except Exception:
                logger.exception("storing a chat turn failed")
                message_id, alerts = None, []
            handle.emit(
                ChatEvent(
                    "message_end",
                    {
                        "session_id": str(setup.session_id),
                        "turn_id": setup.turn_id,
                        "message_id": str(message_id) if message_id else None,
                        "status": status,
                        "text": "".join(record.text),
                        "usage": _usage_totals(record),
                        "alerts": alerts,
                        "elapsed_ms": elapsed_ms,
                        # Where the turn's time went: LLM calls, MCP tool calls and, within
                        # those, waiting on Airtable (bench/chat.py subtracts the last two
                        # that are not the platform's own).
                        "timings": clock.as_dict((time.perf_counter() - started) * 1000),
                    },
                )
            )
            mcp.current_turn.reset(clock_token)
            request_id_var.reset(token)

    async def _loop(
        self, setup: TurnSetup, handle: TurnHandle, record: TurnRecord
    ) -> tuple[list[ModelMessage], str]:
        journal = ToolJournal()
        clock = mcp.current_turn.get() or mcp.TurnContext()
        model = self.state.models.get(setup.config, setup.model_name)
        agent: Agent[None, str | DeferredToolRequests] = Agent(
            model,
            output_type=[str, DeferredToolRequests],
            instructions=_instructions(setup.base_id, 0),
            toolsets=[await self.toolset(setup, journal)],
        )
        limits = UsageLimits(
            request_limit=self.settings.max_model_requests_per_turn,
            tool_calls_limit=self.settings.max_tool_calls_per_turn,
        )
        settings = providers.model_settings(setup.config, setup.session_settings, self.settings)
        requested_at: float | None = None
        resolved = {tool["id"] for tool in setup.preamble_tools}
        async with asyncio.timeout(self.settings.turn_timeout_seconds):
            async with agent.iter(
                setup.prompt,
                message_history=setup.history or None,
                deferred_tool_results=setup.deferred,
                usage_limits=limits,
                model_settings=settings,
            ) as run:
                node = run.next_node
                while not Agent.is_end_node(node):
                    if Agent.is_model_request_node(node):
                        requested_at = time.perf_counter()
                        try:
                            async with node.stream(run.ctx) as stream:
                                async for event in stream:
                                    self._on_model_event(event, handle, record)
                        except ModelAPIError as exc:
                            self._record_failed_call(setup, record, exc, requested_at)
                            raise
                    elif Agent.is_call_tools_node(node):
                        if requested_at is not None:
                            self._record_call(
                                setup, record, node.model_response, requested_at, handle
                            )
                            requested_at = None
                        tools_started = time.perf_counter()
                        async with node.stream(run.ctx) as stream:
                            async for event in stream:
                                # Resolved approvals were reported when they were applied.
                                if _call_id(event) not in resolved:
                                    self._on_tool_event(event, handle, record, journal)
                        clock.tool_seconds += time.perf_counter() - tools_started
                    node = await run.next(node)
                result = run.result
                assert result is not None
                new_messages = result.new_messages()
                output = result.output
        if isinstance(output, DeferredToolRequests):
            for call in output.calls:
                meta = output.metadata.get(call.tool_call_id, {})
                approval = {
                    "action_id": meta.get("action_id"),
                    "tool_call_id": call.tool_call_id,
                    "tool": call.tool_name,
                    "arguments": call.args_as_dict(),
                    "diff": meta.get("diff"),
                    "summary": meta.get("summary"),
                    "expires_at": meta.get("expires_at"),
                    "approve_url": (
                        f"/api/v1/chat/sessions/{setup.session_id}/approvals/{meta.get('action_id')}"
                    ),
                    "_token": meta.get("approval_token"),
                }
                record.approvals.append(approval)
                handle.emit(
                    ChatEvent(
                        "approval_required",
                        {k: v for k, v in approval.items() if not k.startswith("_")},
                    )
                )
            return new_messages, "awaiting_approval"
        return new_messages, "completed"

    def _on_model_event(self, event: Any, handle: TurnHandle, record: TurnRecord) -> None:
        delta = None
        if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
            delta = event.part.content
        elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
            delta = event.delta.content_delta
        if delta:
            record.text.append(delta)
            handle.emit(ChatEvent("text_delta", {"text": delta}))

    def _on_tool_event(
        self, event: Any, handle: TurnHandle, record: TurnRecord, journal: ToolJournal
    ) -> None:
        if isinstance(event, FunctionToolCallEvent):
            part = event.part
            arguments = part.args_as_dict()
            record.tools[part.tool_call_id] = {
                "id": part.tool_call_id,
                "name": part.tool_name,
                "arguments": arguments,
            }
            handle.emit(
                ChatEvent(
                    "tool_call",
                    {"id": part.tool_call_id, "name": part.tool_name, "arguments": arguments},
                )
            )
        elif isinstance(event, FunctionToolResultEvent):
            result_part = event.part
            entry = journal.get(result_part.tool_call_id)
            content = (
                result_part.content
                if isinstance(result_part, ToolReturnPart)
                else result_part.model_response()
            )
            data = {
                "id": result_part.tool_call_id,
                "name": result_part.tool_name,
                "summary": _summary(content),
                "size": entry.size or len(serialise(content)),
                "truncated": entry.truncated,
                "error": entry.error,
            }
            record.tools.setdefault(
                result_part.tool_call_id, {"id": result_part.tool_call_id}
            ).update({k: data[k] for k in ("size", "truncated", "error")})
            handle.emit(ChatEvent("tool_result", data))
            if entry.error:
                error = {
                    "kind": "tool_error",
                    "tool": result_part.tool_name,
                    "message": entry.error,
                }
                record.errors.append(error)
                handle.emit(ChatEvent("error", error | {"recoverable": True}))

    def _record_call(
        self,
        setup: TurnSetup,
        record: TurnRecord,
        response: ModelResponse,
        requested_at: float,
        handle: TurnHandle,
    ) -> None:
        usage = TokenUsage.from_request_usage(response.usage)
        price = self._price(setup, usage, response.model_name)
        elapsed = time.perf_counter() - requested_at
        latency = int(elapsed * 1000)
        clock = mcp.current_turn.get()
        if clock is not None:
            clock.llm_seconds += elapsed
        record.cost += price
        record.tokens = TokenUsage(
            record.tokens.input_tokens + usage.input_tokens,
            record.tokens.output_tokens + usage.output_tokens,
            record.tokens.cached_tokens + usage.cached_tokens,
            record.tokens.thinking_tokens + usage.thinking_tokens,
        )
        record.usage_rows.append(
            self._usage_row(
                setup,
                usage=usage,
                cost=price,
                latency_ms=latency,
                success=True,
                response_model=response.model_name,
            )
        )
        handle.emit(
            ChatEvent(
                "usage",
                {
                    "model": response.model_name or setup.model_name,
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "cached_tokens": usage.cached_tokens,
                    "thinking_tokens": usage.thinking_tokens,
                    "cost_usd": str(price),
                    "latency_ms": latency,
                    "turn_cost_usd": str(record.cost),
                },
            ),
            # Always followed at once by a tool call or the turn's end: sent with it.
            hold=True,
        )

    def _record_failed_call(
        self, setup: TurnSetup, record: TurnRecord, exc: ModelAPIError, requested_at: float
    ) -> None:
        elapsed = time.perf_counter() - requested_at
        latency = int(elapsed * 1000)
        clock = mcp.current_turn.get()
        if clock is not None:
            clock.llm_seconds += elapsed
        status = exc.status_code if isinstance(exc, ModelHTTPError) else None
        record.usage_rows.append(
            self._usage_row(
                setup,
                usage=TokenUsage(),
                cost=Decimal(0),
                latency_ms=latency,
                success=False,
                response_model=None,
                status_code=status,
                error=str(exc)[:500],
            )
        )

    def _price(self, setup: TurnSetup, usage: TokenUsage, response_model: str | None) -> Decimal:
        provider_id = PRICE_PROVIDER_IDS[setup.config.provider]
        # An override names the model as configured; the table knows versioned names too.
        name = setup.model_name if setup.model_name in self.settings.model_prices else None
        return self.state.prices.price(
            usage, name or response_model or setup.model_name, provider_id
        ).cost_usd

    def _usage_row(
        self,
        setup: TurnSetup,
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
            workspace_id=setup.caller.workspace_id,
            user_id=setup.caller.user_id,
            session_id=setup.session_id,
            request_id=setup.request_id,
            provider=setup.config.provider,
            model=setup.model_name,
            endpoint="chat",
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            thinking_tokens=usage.thinking_tokens,
            cost_usd=cost,
            latency_ms=latency_ms,
            success=success,
            status_code=status_code,
            error_message=error,
            metadata={"turn_id": setup.turn_id, "response_model": response_model},
        )

    async def _store(
        self,
        setup: TurnSetup,
        record: TurnRecord,
        new_messages: list[ModelMessage],
        status: str,
        elapsed_ms: int,
    ) -> tuple[uuid.UUID | None, list[dict[str, str]]]:
        caller = setup.caller
        tools_used = [*setup.preamble_tools, *record.tools.values()]
        for approval in record.approvals:
            tools_used.append(
                {
                    "id": approval["tool_call_id"],
                    "name": approval["tool"],
                    "action_id": approval["action_id"],
                    "status": "awaiting_approval",
                }
            )
        asked = []
        if setup.prompt is not None:
            asked.append(
                sessions_repo.NewMessage(
                    role="user",
                    content=setup.prompt,
                    tools_used=[],
                    token_count=history_mod.estimate_tokens(len(setup.prompt)),
                    cost_usd=Decimal(0),
                    model=None,
                    response_time_ms=None,
                    metadata={"turn_id": setup.turn_id},
                    seconds_ago=time.monotonic() - (setup.asked_at or time.monotonic()),
                )
            )
        async with unit_of_work(
            self.state.session_factory, user_id=caller.user_id, workspace_id=caller.workspace_id
        ) as db:
            await costs_repo.insert_usage(db, record.usage_rows)
            ids = await sessions_repo.add_messages(
                db,
                workspace_id=caller.workspace_id,
                user_id=caller.user_id,
                session_id=setup.session_id,
                messages=[
                    *asked,
                    sessions_repo.NewMessage(
                        role="assistant",
                        content="".join(record.text),
                        tools_used=tools_used,
                        token_count=record.tokens.total_tokens,
                        cost_usd=record.cost,
                        model=setup.model_name,
                        response_time_ms=elapsed_ms,
                        metadata={
                            "turn_id": setup.turn_id,
                            "status": status,
                            "errors": record.errors,
                            # A failed turn may end on a tool call without its result; such a
                            # history would be refused by the provider next time.
                            "messages": history_mod.dump(new_messages)
                            if status != "failed"
                            else [],
                        },
                    ),
                ],
            )
            for approval in record.approvals:
                token = approval.get("_token")
                await approvals_repo.insert(
                    db,
                    workspace_id=caller.workspace_id,
                    user_id=caller.user_id,
                    session_id=setup.session_id,
                    turn_id=setup.turn_id,
                    action_id=str(approval["action_id"]),
                    tool_call_id=approval["tool_call_id"],
                    tool_name=approval["tool"],
                    arguments=approval["arguments"],
                    preview={"diff": approval["diff"], "summary": approval["summary"]},
                    approval_token_encrypted=(
                        self.state.box.encrypt(
                            token, associated_data=f"approval:{approval['action_id']}"
                        )
                        if token
                        else None
                    ),
                )
            alerts = await budgets.after_turn(
                db,
                workspace_id=caller.workspace_id,
                user_id=caller.user_id,
                session_id=setup.session_id,
            )
        return ids[-1], alerts

    # --- undo ---------------------------------------------------------------------------

    async def revert(self, caller: Caller, session_id: uuid.UUID, action_id: str) -> Any:
        """Undo a write made from this chat (core's ``revert_action``, as the user)."""
        factory = self.state.session_factory
        async with unit_of_work(
            factory, user_id=caller.user_id, workspace_id=caller.workspace_id
        ) as db:
            if await sessions_repo.get(db, session_id) is None:
                raise NotFound(f"chat session {session_id} not found")
            approval = await approvals_repo.get(db, session_id, action_id)
            if approval is None:
                raise NotFound(f"no action {action_id} in this session")
            if approval["status"] != "approved":
                raise Conflict(f"action {action_id} is {approval['status']}, not applied")
        result = await self.state.mcp.call(
            caller.credential,
            "revert_action",
            {"action_id": action_id},
            session_id=session_id,
        )
        async with unit_of_work(
            factory, user_id=caller.user_id, workspace_id=caller.workspace_id
        ) as db:
            await approvals_repo.set_result(
                db, approval["id"], "reverted", {"status": "reverted", "result": result}
            )
            await sessions_repo.add_messages(
                db,
                workspace_id=caller.workspace_id,
                user_id=caller.user_id,
                session_id=session_id,
                messages=[
                    sessions_repo.NewMessage(
                        role="system",
                        content=f"The user reverted action {action_id} ({approval['tool_name']}).",
                        tools_used=[{"name": "revert_action", "action_id": action_id}],
                        token_count=0,
                        cost_usd=Decimal(0),
                        model=None,
                        response_time_ms=None,
                        metadata={"action_id": action_id},
                    )
                ],
            )
        return result


def _call_id(event: Any) -> str | None:
    part = getattr(event, "part", None)
    return getattr(part, "tool_call_id", None)


def _usage_totals(record: TurnRecord) -> dict[str, Any]:
    return {
        "llm_calls": sum(1 for row in record.usage_rows if row.success),
        "input_tokens": record.tokens.input_tokens,
        "output_tokens": record.tokens.output_tokens,
        "cached_tokens": record.tokens.cached_tokens,
        "thinking_tokens": record.tokens.thinking_tokens,
        "cost_usd": str(record.cost),
    }


def _classify(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, ModelHTTPError):
        return "provider_error", f"the LLM provider answered {exc.status_code}: {_body(exc)}"
    if isinstance(exc, ModelAPIError):
        return "provider_error", f"the LLM provider failed: {exc}"
    if isinstance(exc, UsageLimitExceeded):
        return "limit_exceeded", f"the turn hit a limit: {exc}"
    if isinstance(exc, TimeoutError):
        return "timeout", "the turn took longer than the configured limit and was stopped"
    if isinstance(exc, UnexpectedModelBehavior):
        return "provider_error", f"the model behaved unexpectedly: {exc}"
    if isinstance(exc, mcp.ToolCallFailed | mcp.McpUnavailable):
        return "tool_error", exc.detail
    if isinstance(exc, AgentRunError):
        return "agent_error", str(exc)
    if isinstance(exc, OSError) or type(exc).__name__ in ("ConnectError", "ConnectTimeout"):
        return "mcp_unavailable", f"cannot reach the platform's MCP server: {exc}"
    return "internal", "the turn failed unexpectedly; it was recorded"


def _body(exc: ModelHTTPError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])[:300]
    return str(body)[:300]


def answer(setup_session: uuid.UUID, turn_id: str, handle: TurnHandle) -> ChatAnswer:
    """The JSON form of a finished turn, built from its events."""
    end = next((e.data for e in reversed(handle.events) if e.type == "message_end"), {})
    tools: dict[str, dict[str, Any]] = {}
    approvals, errors, calls = [], [], []
    for event in handle.events:
        if event.type == "tool_call":
            tools[event.data["id"]] = dict(event.data)
        elif event.type == "tool_result":
            tools.setdefault(event.data["id"], {"id": event.data["id"]})["result"] = event.data
        elif event.type == "approval_required":
            approvals.append(event.data)
        elif event.type == "error":
            errors.append(event.data)
        elif event.type == "usage":
            calls.append(event.data)
    usage = dict(end.get("usage") or {})
    usage["calls"] = calls
    message_id = end.get("message_id")
    return ChatAnswer(
        session_id=setup_session,
        turn_id=turn_id,
        message_id=uuid.UUID(message_id) if message_id else None,
        status=end.get("status", "failed"),
        text=end.get("text", ""),
        tool_calls=list(tools.values()),
        approvals=approvals,
        usage=usage,
        errors=errors,
        alerts=end.get("alerts") or [],
    )
