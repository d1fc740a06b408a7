"""What every tool call runs with: the verified identity of the HTTP request, one unit of
work with that identity's RLS context, the Airtable and actions services, and the mapping of
platform errors to MCP tool errors (raised, never returned as text)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.core.actions.config import ActionsSettings
from pyairtable_platform.core.actions.schemas import Channel
from pyairtable_platform.core.actions.service import ActionsService
from pyairtable_platform.core.airtable.metrics import UpstreamClock, upstream_clock
from pyairtable_platform.core.auth import permissions
from pyairtable_platform.core.auth.permissions import Action as Permission
from pyairtable_platform.core.auth.unit import transaction
from pyairtable_platform.core.mcp.config import McpSettings
from pyairtable_platform.kit.auth import Identity
from pyairtable_platform.kit.context import request_id_var
from pyairtable_platform.kit.errors import PlatformError

if TYPE_CHECKING:
    from pyairtable_platform.core.airtable.deps import AirtableDeps
    from pyairtable_platform.core.airtable.service import AirtableService

# Keys the authenticating ASGI wrapper puts into the request scope. Tool handlers run in the
# session manager's task group, not in the request's task, so a contextvar set by the wrapper
# would not reach them; the scope travels with the message (ctx.request_context.request).
SCOPE_IDENTITY = "pap.identity"
SCOPE_REQUEST_ID = "pap.request_id"
SCOPE_RUNTIME = "pap.mcp"
# The channel the client asked its writes to be recorded under (only "chat" is honoured, see
# :func:`pyairtable_platform.core.mcp.server.requested_channel`) and the chat session behind them.
SCOPE_CHANNEL = "pap.channel"
SCOPE_CHAT_SESSION = "pap.chat_session"

# Key of a tool result's ``_meta`` holding the milliseconds the call waited on Airtable.
UPSTREAM_META = "pap/upstream_ms"

# A client that keeps one MCP session for many chat turns (the ai service) names the turn's
# chat session and request id per call in the request's ``_meta`` instead of in headers; the
# session id is honoured only on the "chat" channel, as the header is.
META_CHAT_SESSION = "pap/chat_session"
META_REQUEST_ID = "pap/request_id"

# The identity of the running tool call, for code below the tools (set per call).
current_identity: ContextVar[Identity | None] = ContextVar("mcp_identity", default=None)

READ_ONLY_MESSAGE = (
    "this API key is read-only (scope 'read'), so it cannot call write tools. Ask for a key "
    "with scope 'write' (`pyairtable-platform api-key create --scope write`, or the API keys "
    "page) and reconnect with it"
)


@dataclass
class McpRuntime:
    """Built in core's lifespan; shared by every tool call."""

    factory: async_sessionmaker[AsyncSession]
    settings: McpSettings
    actions: ActionsSettings
    extras: dict[str, Any]

    def airtable_deps(self) -> AirtableDeps:
        deps = self.extras.get("airtable")
        if deps is None:
            raise ToolError("Airtable access is not available in this deployment")
        return deps  # type: ignore[no-any-return]  # typed by the airtable extension


@dataclass
class ToolCall:
    identity: Identity
    session: AsyncSession
    runtime: McpRuntime
    channel: Channel = "mcp"
    chat_session_id: uuid.UUID | None = None
    _airtable: AirtableService | None = None

    @property
    def airtable(self) -> AirtableService:
        if self._airtable is None:
            from pyairtable_platform.core.airtable.service import AirtableService

            self._airtable = AirtableService(
                self.session, self.identity, self.runtime.airtable_deps(), channel=self.channel
            )
        return self._airtable

    def actions(self) -> ActionsService:
        return ActionsService(
            self.session,
            self.identity,
            self.airtable,
            channel=self.channel,
            settings=self.runtime.actions,
            session_id=self.chat_session_id,
        )


def _scope(ctx: Context[Any, Any]) -> dict[str, Any]:
    try:
        request = ctx.request_context.request
    except ValueError:
        request = None
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict) or scope.get(SCOPE_IDENTITY) is None:
        raise ToolError("not authenticated: connect with an API key or access token")
    return scope


def _request_meta(ctx: Context[Any, Any]) -> dict[str, Any]:
    try:
        meta = ctx.request_context.meta
    except ValueError:
        return {}
    return dict(meta) if isinstance(meta, dict) else {}


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def tool_error(exc: PlatformError) -> ToolError:
    """A platform error as a message a model can act on."""
    message = exc.detail
    retry = getattr(exc, "retry_after", None) or exc.headers.get("Retry-After")
    if retry:
        message += f" (retry in {retry} s)"
    return ToolError(f"{exc.error}: {message}")


@asynccontextmanager
async def tool_call(ctx: Context[Any, Any], *, write: bool = False) -> AsyncIterator[ToolCall]:
    """One tool call as the caller's identity, in its workspace, under RLS."""
    scope = _scope(ctx)
    identity: Identity = scope[SCOPE_IDENTITY]
    runtime: McpRuntime = scope[SCOPE_RUNTIME]
    if write and permissions.SCOPE_RANK[identity.scope] < permissions.SCOPE_RANK["write"]:
        raise ToolError(READ_ONLY_MESSAGE)
    meta = _request_meta(ctx)
    channel: Channel = scope.get(SCOPE_CHANNEL) or "mcp"
    chat_session = scope.get(SCOPE_CHAT_SESSION)
    if channel == "chat" and chat_session is None:
        chat_session = _uuid(meta.get(META_CHAT_SESSION))
    request_id = meta.get(META_REQUEST_ID)
    if not isinstance(request_id, str) or not request_id:
        request_id = scope.get(SCOPE_REQUEST_ID) or uuid.uuid4().hex
    rid = request_id_var.set(request_id)
    who = current_identity.set(identity)
    clock = upstream_clock.set(UpstreamClock())
    try:
        permissions.check_identity(
            identity, Permission.DATA_WRITE if write else Permission.DATA_READ
        )
        async with transaction(
            runtime.factory, user_id=identity.user_id, workspace_id=identity.workspace_id
        ) as session:
            yield ToolCall(
                identity,
                session,
                runtime,
                channel=channel,
                chat_session_id=chat_session,
            )
    except PlatformError as exc:
        raise tool_error(exc) from exc
    finally:
        upstream_clock.reset(clock)
        current_identity.reset(who)
        request_id_var.reset(rid)


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def result(data: Any) -> CallToolResult:
    """A tool answer as compact JSON text (no indentation: context is the model's budget)."""
    text = orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()
    meta = None
    clock = upstream_clock.get()
    if clock is not None:
        # How long this call waited on Airtable, so a caller can tell the platform's own
        # latency from Airtable's (the ai service reports it per turn; bench/chat.py).
        meta = {UPSTREAM_META: round(clock.seconds * 1000, 2)}
    return CallToolResult(content=[TextContent(type="text", text=text)], meta=meta)
