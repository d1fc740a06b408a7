"""The MCP client of the ai service: core's ``/mcp`` over streamable HTTP, authenticated with
the calling user's own credential, so the model can do exactly what that user's MCP client
could do and nothing more.

What does not change from turn to turn is paid once, not per turn (:class:`McpConnector`):

- one MCP session per user credential (handshake and tool list), kept while it is in use and
  for ``POOL_IDLE_SECONDS`` after (at most ``POOL_MAX_AGE_SECONDS``; an access token is
  short-lived anyway): a turn sends no handshake and no ``tools/list``, only its tool calls.
  Core verifies the credential on every request, so a revoked token stops working at once,
  pooled or not. The HTTP connections to core are one pool for the whole process.

What does change per turn travels per call in the request's ``_meta``: the chat session the
writes belong to and the request id (core reads both; the channel header is the session's).

Core reports in each tool result's ``_meta`` how long the call waited on Airtable; the client
adds it to the turn's :class:`TurnContext`, so a turn can tell its own latency from Airtable's.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import pydantic_core
from pydantic_ai import RunContext
from pydantic_ai.exceptions import ModelRetry, ToolFailed
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets.abstract import AbstractToolset, ToolsetTool

from pyairtable_platform.ai.chat.mcp_client import (
    McpHttpError,
    McpProtocolError,
    McpSession,
    McpWire,
)
from pyairtable_platform.kit.context import current_request_id
from pyairtable_platform.kit.errors import PlatformError

# Keys of ``_meta``: core's answer (milliseconds the call waited on Airtable), our requests.
UPSTREAM_META = "pap/upstream_ms"
META_CHAT_SESSION = "pap/chat_session"
META_REQUEST_ID = "pap/request_id"
POOL_IDLE_SECONDS = 120.0
POOL_MAX_AGE_SECONDS = 600.0
POOL_SIZE = 512
MCP_MAX_CONNECTIONS = 256
# Tool arguments as the model sends them: an object; core validates them against the schema.
ARGUMENTS_VALIDATOR = pydantic_core.SchemaValidator(
    pydantic_core.core_schema.dict_schema(
        pydantic_core.core_schema.str_schema(), pydantic_core.core_schema.any_schema()
    )
)
ToolErrorBehavior = Literal["retry", "error", "failed"]


class ToolCallFailed(PlatformError):
    status_code = 409
    error = "tool_failed"


class McpUnavailable(PlatformError):
    status_code = 502
    error = "mcp_unavailable"


class ToolError(Exception):
    """A tool answered with an error (``isError``), for callers that asked for exceptions
    (``tool_error_behavior="error"``)."""


@dataclass
class TurnContext:
    """The running turn, as its tool calls need it: what to tell core, and where the turn's
    time went as the ai service sees it (``message_end.timings``)."""

    session_id: uuid.UUID | None = None
    request_id: str | None = None
    llm_seconds: float = 0.0
    tool_seconds: float = 0.0
    upstream_ms: float = 0.0
    tool_calls: int = 0

    def as_dict(self, turn_ms: float) -> dict[str, float]:
        return {
            "turn_ms": round(turn_ms, 1),
            "llm_ms": round(self.llm_seconds * 1000, 1),
            "tools_ms": round(self.tool_seconds * 1000, 1),
            "upstream_ms": round(self.upstream_ms, 1),
            "tool_calls": self.tool_calls,
        }


# The turn whose tool calls are running (set for the whole turn by the chat service).
current_turn: ContextVar[TurnContext | None] = ContextVar("chat_turn", default=None)


def _turn_meta() -> dict[str, Any] | None:
    """What core should know of the running turn, per call: its chat session and request id."""
    turn = current_turn.get()
    meta: dict[str, Any] = {}
    if turn is not None:
        if turn.session_id is not None:
            meta[META_CHAT_SESSION] = str(turn.session_id)
        if turn.request_id:
            meta[META_REQUEST_ID] = turn.request_id
    return meta or None


def _content(result: dict[str, Any], *, prefer_structured: bool = False) -> Any:
    """A tool result as the model sees it: the structured content when the text parts only
    repeat it (the SDK's convention), else the text (JSON decoded when it is JSON)."""
    parts = result.get("content") or []
    structured = result.get("structuredContent")
    if structured is not None and (
        prefer_structured or all(part.get("type") == "text" for part in parts)
    ):
        if isinstance(structured, dict) and len(structured) == 1 and "result" in structured:
            return structured["result"]
        return structured
    mapped = [_part(part) for part in parts]
    return mapped[0] if len(mapped) == 1 else mapped


def _part(part: dict[str, Any]) -> Any:
    if part.get("type") != "text":
        return part  # images and resources go to the model as the server sent them
    text = str(part.get("text", ""))
    if text.startswith(("[", "{")):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
    return text


def _error_message(name: str, result: dict[str, Any]) -> str:
    content = _content(result, prefer_structured=True)
    if content in (None, "", []):
        return f"Tool {name!r} returned an error"
    return content if isinstance(content, str) else orjson.dumps(content, default=str).decode()


class McpToolset(AbstractToolset[Any]):
    """Core's MCP tools as a pydantic-ai toolset, called over one :class:`McpSession`.

    The tool list is read once per session and its definitions built once (pydantic-ai asks
    for the tools before every step of a run). A tool that answers ``isError`` raises
    :class:`ModelRetry` (the model sees the message and may fix its call, within
    ``max_retries``), :class:`ToolFailed` or :class:`ToolError`, per ``tool_error_behavior``;
    a JSON-RPC error (unknown tool, arguments refused by the schema) is always retryable.
    """

    def __init__(
        self,
        session: McpSession,
        *,
        tool_error_behavior: ToolErrorBehavior = "retry",
        max_retries: int = 2,
        per_call_meta: bool = False,
    ) -> None:
        self.session = session
        self.tool_error_behavior = tool_error_behavior
        self.max_retries = max_retries
        self.per_call_meta = per_call_meta
        self._definitions: list[ToolDefinition] | None = None
        self._listing = asyncio.Lock()

    @property
    def id(self) -> str | None:
        return "platform"

    async def tool_definitions(self) -> list[ToolDefinition]:
        if self._definitions is None:
            async with self._listing:
                if self._definitions is None:
                    tools = await self._guarded(self.session.list_tools())
                    self._definitions = [_definition(tool) for tool in tools]
        return self._definitions

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        return {
            definition.name: ToolsetTool(
                toolset=self,
                tool_def=definition,
                max_retries=self.max_retries,
                args_validator=ARGUMENTS_VALIDATOR,
            )
            for definition in await self.tool_definitions()
        }

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        return await self.direct_call_tool(name, tool_args)

    async def direct_call_tool(self, name: str, args: dict[str, Any]) -> Any:
        meta = _turn_meta() if self.per_call_meta else None
        try:
            result = await self._guarded(self.session.call_tool(name, args, meta=meta))
        except McpProtocolError as exc:
            if self.tool_error_behavior == "error":
                raise ToolError(f"{name}: {exc}") from exc
            raise ModelRetry(str(exc)) from exc
        turn = current_turn.get()
        upstream = (result.get("_meta") or {}).get(UPSTREAM_META)
        if turn is not None and isinstance(upstream, int | float):
            turn.upstream_ms += float(upstream)
        if result.get("isError"):
            message = _error_message(name, result)
            if self.tool_error_behavior == "error":
                raise ToolError(message)
            if self.tool_error_behavior == "failed":
                raise ToolFailed(message=message)
            raise ModelRetry(message)
        return _content(result)

    async def _guarded(self, call: Any) -> Any:
        """Core refusing the credential or unreachable: not something the model can fix."""
        try:
            return await call
        except McpHttpError as exc:
            raise McpUnavailable(str(exc)) from exc
        except TimeoutError as exc:
            raise McpUnavailable("the MCP server did not answer in time") from exc


def _definition(tool: dict[str, Any]) -> ToolDefinition:
    return ToolDefinition(
        name=tool["name"],
        description=tool.get("description"),
        parameters_json_schema=tool.get("inputSchema") or {"type": "object", "properties": {}},
        metadata={"meta": tool.get("_meta"), "annotations": tool.get("annotations")},
    )


@dataclass
class _Pooled:
    toolset: McpToolset
    created: float
    used: float


class McpConnector:
    """Per ai process: the pooled MCP sessions (one per user credential) and their connections."""

    def __init__(self, url: str, *, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.wire = McpWire(url, max_connections=MCP_MAX_CONNECTIONS)
        self._pool: dict[str, _Pooled] = {}
        self._opening = asyncio.Lock()

    async def user_toolset(self, credential: str) -> McpToolset:
        """The pooled MCP session of this credential (its tool list read on first use): a turn
        sends no handshake and no ``tools/list``, only its tool calls."""
        key = hashlib.sha256(credential.encode()).hexdigest()
        entry = self._fresh(key)
        if entry is None:
            async with self._opening:
                entry = self._fresh(key)
                if entry is None:
                    headers = {
                        "Authorization": f"Bearer {credential}",
                        # Core records chat as the channel of the writes.
                        "X-PAP-Channel": "chat",
                    }
                    toolset = McpToolset(
                        McpSession(self.wire, headers, timeout=self.timeout),
                        tool_error_behavior="retry",
                        max_retries=2,
                        per_call_meta=True,
                    )
                    await toolset.tool_definitions()
                    now = time.monotonic()
                    entry = self._pool[key] = _Pooled(toolset, now, now)
                    self._sweep(now)
        entry.used = time.monotonic()
        return entry.toolset

    def _fresh(self, key: str) -> _Pooled | None:
        entry = self._pool.get(key)
        if entry is None or time.monotonic() - entry.created > POOL_MAX_AGE_SECONDS:
            return None
        return entry

    def _sweep(self, now: float) -> None:
        idle = [
            k
            for k, e in self._pool.items()
            if now - e.used > POOL_IDLE_SECONDS or now - e.created > POOL_MAX_AGE_SECONDS
        ]
        if len(self._pool) - len(idle) > POOL_SIZE:
            by_use = sorted(self._pool, key=lambda k: self._pool[k].used)
            idle = list(dict.fromkeys([*idle, *by_use[: len(self._pool) - POOL_SIZE]]))
        for key in idle:
            # Nothing to close: a session is a credential and a negotiated version; the
            # connections belong to the process's pool.
            self._pool.pop(key, None)

    def toolset(
        self,
        credential: str,
        *,
        session_id: uuid.UUID | None,
        timeout: float | None = None,
        tool_error_behavior: ToolErrorBehavior = "retry",
    ) -> McpToolset:
        """A session of its own (calls outside a chat turn: approvals, undo, analysis), with
        the chat session and request id in headers."""
        headers = {
            "Authorization": f"Bearer {credential}",
            # Core records chat as the channel of the writes, and which session asked for them.
            "X-PAP-Channel": "chat",
        }
        if session_id is not None:
            headers["X-PAP-Chat-Session"] = str(session_id)
        request_id = current_request_id()
        if request_id:
            headers["X-Request-ID"] = request_id
        return McpToolset(
            McpSession(self.wire, headers, timeout=timeout or self.timeout),
            tool_error_behavior=tool_error_behavior,
            max_retries=2,
        )

    async def aclose(self) -> None:
        self._pool.clear()
        await self.wire.aclose()

    async def call(
        self, credential: str, name: str, arguments: dict[str, Any], *, session_id: uuid.UUID | None
    ) -> Any:
        """Call one MCP tool outside the agent (applying or reverting an action for the user)."""
        toolset = self.toolset(
            credential, session_id=session_id, timeout=30.0, tool_error_behavior="error"
        )
        try:
            return await toolset.direct_call_tool(name, arguments)
        except ToolError as exc:
            # A tool error, or a protocol one: the caller gets a clean 409 naming it, not a 500.
            raise ToolCallFailed(f"{name} failed: {exc}") from exc
        except OSError as exc:
            raise McpUnavailable(f"cannot reach the MCP server: {exc}") from exc
