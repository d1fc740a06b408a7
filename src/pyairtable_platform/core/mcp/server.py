"""The MCP server mounted in core at ``/mcp`` (streamable HTTP, stateless).

Stateless: every POST is served on its own (no ``Mcp-Session-Id`` to pin a client to one
replica), which is what lets core run several processes behind the gateway; the SDK's modern
(2026-07-28) requests are single exchanges anyway. Responses are one JSON body per POST by
default (``CORE_MCP_JSON_RESPONSE``): nothing in these tools streams, and a JSON body passes
proxies and the gateway with no buffering questions.

Every request is authenticated before the SDK sees it (:class:`McpEndpoint`): an API key or
an access token, verified by core itself — 401 with ``WWW-Authenticate: Bearer`` otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pyairtable_platform import __version__
from pyairtable_platform.core.actions.config import ActionsSettings
from pyairtable_platform.core.api_keys import service as api_key_service
from pyairtable_platform.core.auth.state import AuthState
from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.core.mcp.config import McpSettings
from pyairtable_platform.core.mcp.context import (
    SCOPE_CHANNEL,
    SCOPE_CHAT_SESSION,
    SCOPE_IDENTITY,
    SCOPE_REQUEST_ID,
    SCOPE_RUNTIME,
    McpRuntime,
)
from pyairtable_platform.core.mcp.tools import (
    analysis,
    composite,
    discovery,
    reads,
    safety,
    writes,
)
from pyairtable_platform.kit.app import Resources
from pyairtable_platform.kit.auth import Identity, extract_credential
from pyairtable_platform.kit.context import current_request_id
from pyairtable_platform.kit.errors import PlatformError, Unauthorized, error_response

MCP_PATH = "/mcp"

INSTRUCTIONS = """\
Airtable through PyAirtable Platform, as the user who connected, in their workspace.
Start with list_bases, then describe_table (or list_tables with detail="fields") to learn the
exact table and field names; then query with list_records (formula, sort, fields), search_records
(full text and typos over the mirror), aggregate_records (exact counts, sums, averages) or
get_record. Ask only for the fields you need: answers are capped and say when they are
truncated, with the true total.
Writes (create_records, update_records, upsert_records, delete_records, table/field tools) are
recorded as actions. Pass preview=true to show the user the diff first; apply it with
apply_action(action_id, approval_token) once they agree. Some keys and workspaces require a
preview for updates and deletes: the write tool then answers with a preview instead of writing.
Every executed action can be undone with revert_action; list_actions shows what was done.
"""


def build_server() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer(
        name="pyairtable-platform",
        title="PyAirtable Platform",
        description="Airtable bases, records, search, aggregates and safe writes",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
    )
    for module in (discovery, reads, analysis, writes, composite, safety):
        module.register(server)
    return server


async def verify(state: AuthState, headers: dict[str, str]) -> Identity:
    """The identity behind the request's credential (core verifies it itself: zero trust)."""
    credential = extract_credential(headers)
    if credential is None:
        raise Unauthorized(
            "authentication required: send 'Authorization: Bearer <API key or access token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    kind, value = credential
    if kind == "api_key":
        return await api_key_service.resolve(state, value)
    identity, _ = await state.verify_access_token(value)
    return identity


CHANNEL_HEADER = "x-pap-channel"
CHAT_SESSION_HEADER = "x-pap-chat-session"


def requested_channel(headers: dict[str, str]) -> tuple[str | None, uuid.UUID | None]:
    """The channel and chat session a client asks its writes to be recorded under.

    The channel is informational (who acted is always the verified identity), but audit
    readers trust it, so a client may only relabel its writes from "mcp" to "chat" — what the
    ai service does for the model's tool calls. Any other value ("api", "workflow", "ui") is
    ignored: those channels are set by core itself, never by a header. The chat session id
    travels only with "chat" and only as a UUID; it labels the caller's own actions and is
    not checked against ``conversation_sessions``.
    """
    if headers.get(CHANNEL_HEADER, "").strip().lower() != "chat":
        return None, None
    try:
        session = uuid.UUID(headers.get(CHAT_SESSION_HEADER, "").strip())
    except ValueError:
        session = None
    return "chat", session


class McpEndpoint:
    """ASGI app at ``/mcp``: authenticate, then hand the request to the SDK's session manager."""

    def __init__(self, server: MCPServer[Any]) -> None:
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope.get("app")
        runtime: McpRuntime | None = getattr(getattr(app, "state", None), "mcp", None)
        auth: AuthState | None = getattr(getattr(app, "state", None), "auth", None)
        if runtime is None or auth is None:
            response = error_response(503, "service_unavailable", "the MCP server is starting")
            await response(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            identity = await verify(auth, headers)
        except PlatformError as exc:
            headers_out = dict(exc.headers)
            if exc.status_code == 401:
                headers_out.setdefault("WWW-Authenticate", "Bearer")
            response = error_response(
                exc.status_code, exc.error, exc.detail, headers_out, **exc.extra
            )
            await response(scope, receive, send)
            return
        if identity.workspace_id is None:
            response = error_response(
                403, "forbidden", "no active workspace: create one or accept an invitation first"
            )
            await response(scope, receive, send)
            return
        scope[SCOPE_IDENTITY] = identity
        scope[SCOPE_RUNTIME] = runtime
        scope[SCOPE_REQUEST_ID] = current_request_id()
        scope[SCOPE_CHANNEL], scope[SCOPE_CHAT_SESSION] = requested_channel(headers)
        await self.server.session_manager.handle_request(scope, receive, send)


class McpMount:
    """The ``/mcp`` endpoint of one core app: its route and the lifespan extension that runs
    the SDK's session manager (one per app: a session manager runs once)."""

    def __init__(self, settings: CoreSettings) -> None:
        self.settings = McpSettings()
        self.server = build_server()
        self.server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=self.settings.json_response,
            max_request_body_size=self.settings.max_request_mb * 1024 * 1024,
            transport_security=TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=self.settings.hosts(settings.public_url),
                allowed_origins=self.settings.origins(settings.public_url),
            ),
        )

    def install(self, app: FastAPI) -> None:
        # A plain Starlette route: an ASGI endpoint answering GET/POST/DELETE at exactly /mcp
        # (a Mount would redirect /mcp to /mcp/). First in the table: every tool call is a
        # request here, and matching it after core's ~200 API routes costs more than the
        # route itself; no other route has this path.
        app.router.routes.insert(
            0, Route(MCP_PATH, endpoint=McpEndpoint(self.server), methods=["GET", "POST", "DELETE"])
        )

    @asynccontextmanager
    async def extension(self, app: FastAPI, resources: Resources) -> AsyncIterator[None]:
        assert resources.session_factory is not None, "core always has a database"
        app.state.mcp = McpRuntime(
            factory=resources.session_factory,
            settings=self.settings,
            actions=ActionsSettings(),
            extras=resources.extras,
        )
        async with self.server.session_manager.run():
            yield
