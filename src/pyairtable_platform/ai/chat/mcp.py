"""The MCP client of the ai service: core's ``/mcp`` over streamable HTTP, authenticated with
the calling user's own credential, so the model can do exactly what that user's MCP client
could do and nothing more.

What does not change from turn to turn is paid once, not per turn (:class:`McpConnector`):

- one MCP session (and its HTTP connections) per user credential, kept open while it is in
  use and for ``POOL_IDLE_SECONDS`` after (at most ``POOL_MAX_AGE_SECONDS``; an access token is
  short-lived anyway): a turn sends no handshake and no ``tools/list``, only its tool calls.
  Core verifies the credential on every request, so a revoked token stops working at once,
  pooled or not.

What does change per turn travels per call in the request's ``_meta``: the chat session the
writes belong to and the request id (core reads both; the channel header is the session's).

Core reports in each tool result's ``_meta`` how long the call waited on Airtable; the client
adds it to the turn's :class:`TurnContext`, so a turn can tell its own latency from Airtable's.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

import httpx2
from fastmcp.client import Client
from fastmcp.client.client import CallToolResult
from fastmcp.client.progress import ProgressHandler
from fastmcp.client.transports import StreamableHttpTransport
from pydantic_ai import RunContext
from pydantic_ai.exceptions import ModelRetry
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.toolsets.abstract import ToolsetTool

from pyairtable_platform.kit.context import current_request_id
from pyairtable_platform.kit.errors import PlatformError

# Keys of ``_meta``: core's answer (milliseconds the call waited on Airtable), our requests.
UPSTREAM_META = "pap/upstream_ms"
META_CHAT_SESSION = "pap/chat_session"
META_REQUEST_ID = "pap/request_id"
POOL_IDLE_SECONDS = 120.0
POOL_MAX_AGE_SECONDS = 600.0
POOL_SIZE = 512
MCP_HTTP_LIMITS = httpx2.Limits(max_connections=256, max_keepalive_connections=128)


class ToolCallFailed(PlatformError):
    status_code = 409
    error = "tool_failed"


class McpUnavailable(PlatformError):
    status_code = 502
    error = "mcp_unavailable"


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


class _PlatformClient(Client[Any]):
    """A FastMCP client that reads core's timings from each tool result."""

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        version: str | None = None,
        timeout: datetime.timedelta | float | int | None = None,  # noqa: ASYNC109 - the SDK signature
        progress_handler: ProgressHandler | None = None,
        raise_on_error: bool = True,
        meta: dict[str, Any] | None = None,
    ) -> CallToolResult:
        result = await super().call_tool(
            name,
            arguments,
            version=version,
            timeout=timeout,
            progress_handler=progress_handler,
            raise_on_error=raise_on_error,
            meta=meta,
        )
        turn = current_turn.get()
        meta = result.meta or {}
        if turn is not None and isinstance(meta.get(UPSTREAM_META), int | float):
            turn.upstream_ms += float(meta[UPSTREAM_META])
        return result


async def _with_turn_meta(ctx: Any, call_tool: Any, name: str, tool_args: dict[str, Any]) -> Any:
    """``process_tool_call`` of pooled toolsets: the turn's own data, per call."""
    turn = current_turn.get()
    meta: dict[str, Any] = {}
    if turn is not None:
        if turn.session_id is not None:
            meta[META_CHAT_SESSION] = str(turn.session_id)
        if turn.request_id:
            meta[META_REQUEST_ID] = turn.request_id
    return await call_tool(name, tool_args, metadata=meta or None)


def _http_client(
    headers: dict[str, str] | None = None,
    timeout: httpx2.Timeout | None = None,
    auth: httpx2.Auth | None = None,
    **options: Any,
) -> httpx2.AsyncClient:
    """The HTTP client of an MCP session, keeping as many connections to core alive as a
    burst of turns of one user has calls in flight (httpx keeps 20: a burst of 100 turns
    would open and close connections to core on every call)."""
    # Redirects stay with the MCP transport, which follows them only within core's origin
    # (as with the SDK's own client); ``options`` would turn on httpx's own following.
    return httpx2.AsyncClient(
        headers=headers,
        timeout=timeout or httpx2.Timeout(30.0, read=300.0),
        auth=auth,
        limits=MCP_HTTP_LIMITS,
    )


class _PooledToolset(MCPToolset[Any]):
    """An MCP toolset that builds its tool definitions once per tool list.

    pydantic-ai asks for the tools before every step of a run, and the stock toolset turns the
    cached MCP tool list into definitions again each time (a JSON-schema validation and two
    objects per tool, ~25 tools). The list only changes when the server says so, which drops
    the cached list; the definitions are rebuilt then.
    """

    _built_from: list[Any] | None = None
    _built: dict[str, ToolsetTool[Any]] | None = None

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        listed = await self.list_tools()
        if self._built is None or self._built_from is not listed:
            self._built = await super().get_tools(ctx)
            self._built_from = listed
        return dict(self._built)


@dataclass
class _Pooled:
    toolset: MCPToolset[Any]
    created: float
    used: float


class McpConnector:
    """Per ai process: the pooled MCP sessions, and core's negotiation result."""

    def __init__(self, url: str, *, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._pool: dict[str, _Pooled] = {}
        self._opening = asyncio.Lock()

    async def user_toolset(self, credential: str) -> MCPToolset[Any]:
        """The pooled MCP session of this credential (opened on first use). Enter it for the
        turn (``async with``); the pool's own hold keeps it open between turns."""
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
                    toolset = _PooledToolset(
                        self.client(headers),
                        id="platform",
                        tool_error_behavior="retry",
                        max_retries=2,
                        process_tool_call=_with_turn_meta,
                    )
                    await toolset.__aenter__()
                    stale = self._pool.pop(key, None)
                    now = time.monotonic()
                    entry = self._pool[key] = _Pooled(toolset, now, now)
                    if stale is not None:
                        await self._release(stale)
                    await self._sweep(now)
        entry.used = time.monotonic()
        return entry.toolset

    def _fresh(self, key: str) -> _Pooled | None:
        entry = self._pool.get(key)
        if entry is None or time.monotonic() - entry.created > POOL_MAX_AGE_SECONDS:
            return None
        return entry

    async def _sweep(self, now: float) -> None:
        idle = [
            k
            for k, e in self._pool.items()
            if now - e.used > POOL_IDLE_SECONDS or now - e.created > POOL_MAX_AGE_SECONDS
        ]
        if len(self._pool) - len(idle) > POOL_SIZE:
            by_use = sorted(self._pool, key=lambda k: self._pool[k].used)
            idle = list(dict.fromkeys([*idle, *by_use[: len(self._pool) - POOL_SIZE]]))
        for key in idle:
            await self._release(self._pool.pop(key))

    @staticmethod
    async def _release(entry: _Pooled) -> None:
        # Only the pool's hold: a turn still inside the session keeps it open until it leaves.
        await entry.toolset.__aexit__(None, None, None)

    def client(self, headers: dict[str, str], *, timeout: float | None = None) -> Client[Any]:
        transport = StreamableHttpTransport(
            self.url, headers=headers, httpx_client_factory=_http_client
        )
        return _PlatformClient(
            transport, timeout=timeout or self.timeout, init_timeout=timeout or self.timeout
        )

    def toolset(
        self,
        credential: str,
        *,
        session_id: uuid.UUID | None,
        timeout: float | None = None,
        tool_error_behavior: Literal["retry", "error", "failed"] = "retry",
    ) -> MCPToolset[Any]:
        """A session of its own (calls outside a chat turn: approvals, undo, analysis), with
        the chat session and request id in headers; it shares the pool and negotiation."""
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
        return MCPToolset(
            self.client(headers, timeout=timeout),
            id="platform",
            tool_error_behavior=tool_error_behavior,
            max_retries=2,
        )

    async def aclose(self) -> None:
        for key in list(self._pool):
            await self._release(self._pool.pop(key))

    async def call(
        self, credential: str, name: str, arguments: dict[str, Any], *, session_id: uuid.UUID | None
    ) -> Any:
        """Call one MCP tool outside the agent (applying or reverting an action for the user)."""
        from fastmcp.exceptions import ToolError

        toolset = self.toolset(credential, session_id=session_id, timeout=30.0)
        try:
            async with toolset:
                return await toolset.direct_call_tool(name, arguments)
        except (ToolError, ModelRetry) as exc:
            # A tool error, or a protocol one (core did not answer in time): the caller gets a
            # clean 409 naming it, not a 500.
            raise ToolCallFailed(f"{name} failed: {exc}") from exc
        except (OSError, TimeoutError) as exc:
            raise McpUnavailable(f"cannot reach the MCP server: {exc}") from exc
