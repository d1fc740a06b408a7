"""Conformance of the ai service's lean MCP client (``ai/chat/mcp_client.py``, ``ai/chat/mcp.py``).

Against core's real MCP server (the official SDK's) over real HTTP, for what core does: the
single-exchange revision (2026-07-28) the client speaks first, the handshake, the tool list,
tool results and errors, refused credentials, SSE answers, the
per-call ``_meta``. Against a tiny scripted MCP server on loopback (standing in for a
third-party server, see :class:`ScriptedMcp`) for what core never does: a server of the
handshake revisions only (the client falls back), sessions (``Mcp-Session-Id``, a forgotten
session), extra messages on an SSE stream, a connection
dropped before the answer.
"""

from __future__ import annotations

import asyncio
import http
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from pydantic_ai.exceptions import ModelRetry, ToolFailed

from pyairtable_platform import __version__
from pyairtable_platform.ai.chat.mcp import (
    META_CHAT_SESSION,
    META_REQUEST_ID,
    UPSTREAM_META,
    McpConnector,
    McpToolset,
    McpUnavailable,
    ToolCallFailed,
    ToolError,
    ToolErrorBehavior,
    TurnContext,
    current_turn,
)
from pyairtable_platform.ai.chat.mcp_client import (
    MODERN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
    UNSUPPORTED_PROTOCOL_VERSION,
    McpConnectionLost,
    McpSession,
    McpWire,
)
from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.devinfra.throwaway import Infra
from tests.ai.conftest import owner_rows
from tests.core.mcp.conftest import Tenant, error_text, mcp_client
from tests.support.env import environ
from tests.support.servers import ThreadServer

TABLE = "Team"
MISSING_TABLE = "No such table"

# --- a scripted MCP server -------------------------------------------------------------------


@dataclass
class Seen:
    """One request as the scripted server received it (header names lower-cased)."""

    headers: dict[str, str]
    message: dict[str, Any]

    @property
    def method(self) -> str | None:
        method = self.message.get("method")
        return str(method) if method is not None else None

    @property
    def modern(self) -> bool:
        return self.headers.get("mcp-protocol-version") == MODERN_PROTOCOL_VERSION


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        head = [f"HTTP/1.1 {self.status} {http.HTTPStatus(self.status).phrase}"]
        head += [f"{name}: {value}" for name, value in self.headers.items()]
        head.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + self.body


# What the server answers a request with; None closes the connection without answering.
Handler = Callable[[Seen], Awaitable[Reply | None]]


class ScriptedMcp:
    """An MCP server speaking HTTP/1.1 on loopback, answering as the test's handler says.

    Plain asyncio streams rather than an ASGI app: a test needs to drop the connection
    after reading a request, which an ASGI server would answer with a 500 instead. ``wire``
    is a client connection pool to it, closed with the server."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        self._server: asyncio.Server | None = None
        self.port = 0
        self.wire: McpWire

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def methods(self) -> list[str | None]:
        return [seen.method for seen in self.seen]

    def handshake_era(self) -> list[Seen]:
        """The requests after the client's first, single-exchange attempt was refused."""
        assert self.seen
        assert self.seen[0].modern, "the client did not try 2026-07-28 first"
        assert not any(seen.modern for seen in self.seen[1:])
        return self.seen[1:]

    def handshake_methods(self) -> list[str | None]:
        return [seen.method for seen in self.handshake_era()]

    async def __aenter__(self) -> ScriptedMcp:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self.wire = McpWire(self.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        await self.wire.aclose()
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: requests one after another on this connection
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                lines = head.decode("latin-1").split("\r\n")[1:]
                headers = {
                    name.strip().lower(): value.strip()
                    for name, value in (line.split(":", 1) for line in lines if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen = Seen(headers, orjson.loads(body))
                self.seen.append(seen)
                reply = await self.handler(seen)
                if reply is None:
                    return
                writer.write(reply.encode())
                await writer.drain()
        finally:
            writer.close()


ECHO_TOOL = {
    "name": "echo",
    "description": "Answers with its arguments and the request's _meta.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
    "annotations": {"readOnlyHint": True},
}


def response(message: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message["id"], "result": result}


def json_reply(body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    return Reply(200, orjson.dumps(body), {"Content-Type": "application/json", **(headers or {})})


def sse_reply(*events: bytes) -> Reply:
    return Reply(200, b"".join(events), {"Content-Type": "text/event-stream"})


def sse_event(message: dict[str, Any]) -> bytes:
    return b"event: message\ndata: " + orjson.dumps(message) + b"\n\n"


def standard_result(message: dict[str, Any]) -> dict[str, Any]:
    """What a plain MCP server answers: a handshake, one tool, its echo."""
    method = message["method"]
    if method == "initialize":
        return {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "scripted", "version": "0"},
        }
    if method == "tools/list":
        return {"tools": [ECHO_TOOL]}
    assert method == "tools/call", method
    params = message["params"]
    echoed = {"arguments": params["arguments"], "meta": params.get("_meta")}
    return {
        "content": [{"type": "text", "text": orjson.dumps(echoed).decode()}],
        "isError": False,
        "_meta": {UPSTREAM_META: 12.5},
    }


def refused_as_stateful(seen: Seen) -> Reply | None:
    """How a server of the handshake revisions with sessions answers a single-exchange
    request: 400, no session."""
    if seen.modern:
        return Reply(
            400, b"Bad Request: No valid session ID provided", {"Content-Type": "text/plain"}
        )
    return None


async def standard(seen: Seen) -> Reply:
    """A server of the handshake revisions (2025-11-25) only."""
    refused = refused_as_stateful(seen)
    if refused is not None:
        return refused
    if "id" not in seen.message:
        return Reply(202)  # a notification
    return json_reply(response(seen.message, standard_result(seen.message)))


def forwarding(url: str, kinds: list[str] | None = None) -> Handler:
    """A recording proxy in front of a real MCP server: what the client sent is in ``seen``,
    the content type of each answer in ``kinds``."""

    async def forward(seen: Seen) -> Reply:
        passed = (
            "authorization",
            "accept",
            "content-type",
            "mcp-protocol-version",
            "mcp-method",
            "mcp-name",
        )
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.post(
                url,
                content=orjson.dumps(seen.message),
                headers={k: v for k, v in seen.headers.items() if k in passed},
            )
        kind = answer.headers.get("content-type", "")
        if kinds is not None:
            kinds.append(kind)
        return Reply(answer.status_code, answer.content, {"Content-Type": kind} if kind else {})

    return forward


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
async def wire(core: ThreadServer) -> AsyncIterator[McpWire]:
    wire = McpWire(core.url + "/mcp")
    yield wire
    await wire.aclose()


@pytest.fixture(scope="module")
def sse_core(service_env: dict[str, str]) -> Iterator[ThreadServer]:
    """A second core answering every MCP POST with an SSE stream (``CORE_MCP_JSON_RESPONSE``)."""
    from pyairtable_platform.core.app import create_app as create_core
    from pyairtable_platform.core.config import CoreSettings

    port = free_port()
    with environ({"CORE_MCP_JSON_RESPONSE": "false"}):
        app = create_core(CoreSettings(port=port, sandbox_rate_limit_enabled=False))
    with ThreadServer(app, port=port) as server:
        yield server


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def toolset(wire: McpWire, credential: str, behavior: ToolErrorBehavior = "retry") -> McpToolset:
    return McpToolset(
        McpSession(wire, bearer(credential), timeout=60), tool_error_behavior=behavior
    )


def missing_table_args(tenant: Tenant) -> dict[str, Any]:
    return {"base_id": tenant.base_id, "table": MISSING_TABLE}


async def official_error(core: ThreadServer, tenant: Tenant) -> str:
    """Core's message for a read of an unknown table, as the official client shows it."""
    async with mcp_client(core.url + "/mcp", tenant.read_key) as client:
        return error_text(await client.call_tool("list_records", missing_table_args(tenant)))


# --- 1. handshake ---------------------------------------------------------------------------


async def test_the_handshake_gets_cores_version_and_info_and_later_requests_name_the_version(
    core: ThreadServer, tenant: Tenant
) -> None:
    async with ScriptedMcp(forwarding(core.url + "/mcp")) as proxy:
        session = McpSession(proxy.wire, bearer(tenant.read_key), timeout=60)
        await session.initialize()
        tools = await session.list_tools()
    assert session.protocol_version == PROTOCOL_VERSION
    assert session.server_info["name"] == "pyairtable-platform"
    assert session.server_info["version"] == __version__
    assert tools
    assert proxy.methods() == ["initialize", "notifications/initialized", "tools/list"]
    handshake, *later = proxy.seen
    assert handshake.message["params"]["protocolVersion"] == PROTOCOL_VERSION
    assert "mcp-protocol-version" not in handshake.headers
    assert [seen.headers.get("mcp-protocol-version") for seen in later] == [PROTOCOL_VERSION] * 2
    # Core is stateless: no session id to send back.
    assert all("mcp-session-id" not in seen.headers for seen in proxy.seen)


async def test_core_is_asked_in_the_single_exchange_revision_without_a_handshake(
    core: ThreadServer, tenant: Tenant
) -> None:
    chat_session = uuid.uuid4()
    async with ScriptedMcp(forwarding(core.url + "/mcp")) as proxy:
        tools = toolset(proxy.wire, tenant.read_key)
        definitions = await tools.tool_definitions()
        token = current_turn.set(TurnContext(session_id=chat_session, request_id="req-modern"))
        try:
            tools.per_call_meta = True
            answer = await tools.direct_call_tool("list_bases", {})
        finally:
            current_turn.reset(token)
    assert tools.session.modern is True
    assert tools.session.protocol_version == MODERN_PROTOCOL_VERSION
    assert "list_bases" in [d.name for d in definitions]
    assert tenant.base_id in [base["id"] for base in answer["bases"]]
    assert proxy.methods() == ["tools/list", "tools/call"]
    listing, call = proxy.seen
    for seen in proxy.seen:
        assert seen.headers["mcp-protocol-version"] == MODERN_PROTOCOL_VERSION
        assert seen.headers["mcp-method"] == seen.method
        meta = seen.message["params"]["_meta"]
        assert meta["io.modelcontextprotocol/protocolVersion"] == MODERN_PROTOCOL_VERSION
        assert meta["io.modelcontextprotocol/clientCapabilities"] == {}
        assert meta["io.modelcontextprotocol/clientInfo"]["name"] == "pyairtable-platform-ai"
    assert "mcp-name" not in listing.headers
    assert call.headers["mcp-name"] == "list_bases"
    # The turn's own _meta travels with the envelope.
    assert call.message["params"]["_meta"][META_CHAT_SESSION] == str(chat_session)
    assert call.message["params"]["_meta"][META_REQUEST_ID] == "req-modern"


async def test_a_server_refusing_the_single_exchange_revision_gets_the_handshake_and_the_call() -> (
    None
):
    async def handshake_only(seen: Seen) -> Reply:
        if seen.modern:
            error = {
                "code": UNSUPPORTED_PROTOCOL_VERSION,
                "message": "Unsupported protocol version",
            }
            return json_reply({"jsonrpc": "2.0", "id": seen.message["id"], "error": error})
        return await standard(seen)

    async with ScriptedMcp(handshake_only) as server:
        tools = toolset(server.wire, "t")
        answer = await tools.direct_call_tool("echo", {"text": "once more"})
        again = await tools.direct_call_tool("echo", {"text": "and again"})
    assert (answer["arguments"], again["arguments"]) == (
        {"text": "once more"},
        {"text": "and again"},
    )
    assert tools.session.modern is False
    assert tools.session.protocol_version == PROTOCOL_VERSION
    # Refused once, then the handshake; the next call goes straight to the handshake revision.
    assert server.handshake_methods() == [
        "initialize",
        "notifications/initialized",
        "tools/call",
        "tools/call",
    ]


# --- 2. tool list ---------------------------------------------------------------------------


async def test_the_tool_list_is_cores_whole_list_with_schemas_and_annotations(
    wire: McpWire, core: ThreadServer, tenant: Tenant
) -> None:
    session = McpSession(wire, bearer(tenant.read_key), timeout=60)
    tools = {tool["name"]: tool for tool in await session.list_tools()}
    async with mcp_client(core.url + "/mcp", tenant.read_key) as client:
        official = {tool.name: tool for tool in (await client.list_tools()).tools}

    assert sorted(tools) == sorted(official)
    for name, tool in official.items():
        assert tools[name]["inputSchema"] == tool.input_schema, name
        assert tool.annotations is not None, name
        assert tools[name]["annotations"] == tool.annotations.model_dump(
            by_alias=True, exclude_none=True
        ), name
    assert tools["list_bases"]["annotations"]["readOnlyHint"] is True
    assert tools["list_records"]["annotations"]["readOnlyHint"] is True
    assert tools["create_records"]["annotations"]["readOnlyHint"] is False
    assert tools["delete_records"]["annotations"]["destructiveHint"] is True

    definitions = await McpToolset(session).tool_definitions()
    assert {d.name: d.parameters_json_schema for d in definitions} == {
        name: tool["inputSchema"] for name, tool in tools.items()
    }


# --- 3. tool results and errors -------------------------------------------------------------


async def test_list_bases_through_the_toolset_returns_the_sandbox_base(
    wire: McpWire, tenant: Tenant
) -> None:
    answer = await toolset(wire, tenant.read_key).direct_call_tool("list_bases", {})
    assert tenant.base_id in [base["id"] for base in answer["bases"]]


@pytest.mark.parametrize(
    ("behavior", "raised"), [("retry", ModelRetry), ("error", ToolError), ("failed", ToolFailed)]
)
async def test_a_tool_error_raises_per_behavior_with_cores_message(
    behavior: ToolErrorBehavior,
    raised: type[Exception],
    wire: McpWire,
    core: ThreadServer,
    tenant: Tenant,
) -> None:
    expected = await official_error(core, tenant)
    assert MISSING_TABLE in expected
    with pytest.raises(raised) as caught:
        await toolset(wire, tenant.read_key, behavior).direct_call_tool(
            "list_records", missing_table_args(tenant)
        )
    assert str(getattr(caught.value, "message", caught.value)) == expected


@pytest.mark.parametrize(("behavior", "raised"), [("retry", ModelRetry), ("error", ToolError)])
async def test_an_unknown_tool_of_core_raises_per_behavior_with_cores_message(
    behavior: ToolErrorBehavior, raised: type[Exception], wire: McpWire, tenant: Tenant
) -> None:
    # Core's SDK answers an unknown tool with a tool error (isError), not a JSON-RPC error.
    with pytest.raises(raised) as caught:
        await toolset(wire, tenant.read_key, behavior).direct_call_tool("no_such_tool", {})
    assert str(getattr(caught.value, "message", caught.value)) == "Unknown tool: no_such_tool"


@pytest.mark.parametrize(
    ("behavior", "raised"), [("retry", ModelRetry), ("error", ToolError), ("failed", ModelRetry)]
)
async def test_a_json_rpc_error_for_an_unknown_tool_is_an_error_the_model_may_fix(
    behavior: ToolErrorBehavior, raised: type[Exception]
) -> None:
    async def refusing(seen: Seen) -> Reply:
        if seen.method != "tools/call":
            return await standard(seen)
        name = seen.message["params"]["name"]
        error = {"code": -32602, "message": f"Unknown tool: {name}"}
        return json_reply({"jsonrpc": "2.0", "id": seen.message["id"], "error": error})

    async with ScriptedMcp(refusing) as server:
        with pytest.raises(raised) as caught:
            await toolset(server.wire, "t", behavior).direct_call_tool("no_such_tool", {})
    assert "Unknown tool: no_such_tool" in str(getattr(caught.value, "message", caught.value))


# --- 4. refused credentials, calls outside the agent ----------------------------------------


async def test_a_revoked_api_key_makes_the_pooled_session_unavailable_not_a_tool_error(
    wire: McpWire, core: ThreadServer, tenant: Tenant
) -> None:
    async with httpx.AsyncClient(base_url=core.url, timeout=30) as client:
        created = await client.post(
            "/api/v1/api-keys",
            json={"name": "revoked soon", "scope": "read"},
            headers=bearer(tenant.access_token),
        )
        assert created.status_code == 201, created.text
        tools = toolset(wire, created.json()["key"])
        assert (await tools.direct_call_tool("list_bases", {}))["count"] >= 1
        revoked = await client.delete(
            f"/api/v1/api-keys/{created.json()['id']}", headers=bearer(tenant.access_token)
        )
        assert revoked.status_code == 204, revoked.text
    with pytest.raises(McpUnavailable) as caught:
        await tools.direct_call_tool("list_bases", {})
    assert caught.value.status_code == 502
    assert "401" in caught.value.detail


async def test_a_garbage_token_is_unavailable_for_the_tool_list_and_for_a_connector_call(
    wire: McpWire, core: ThreadServer
) -> None:
    with pytest.raises(McpUnavailable, match="401"):
        await toolset(wire, "not-a-credential").tool_definitions()
    connector = McpConnector(core.url + "/mcp", timeout=30)
    try:
        with pytest.raises(McpUnavailable, match="401"):
            await connector.call("not-a-credential", "list_bases", {}, session_id=None)
    finally:
        await connector.aclose()


async def test_a_connector_call_with_a_tool_error_is_tool_call_failed_naming_the_tool(
    core: ThreadServer, tenant: Tenant
) -> None:
    expected = await official_error(core, tenant)
    connector = McpConnector(core.url + "/mcp", timeout=30)
    try:
        with pytest.raises(ToolCallFailed) as caught:
            await connector.call(
                tenant.read_key, "list_records", missing_table_args(tenant), session_id=None
            )
    finally:
        await connector.aclose()
    assert caught.value.status_code == 409
    assert caught.value.error == "tool_failed"
    assert caught.value.detail == f"list_records failed: {expected}"


# --- 5. SSE answers -------------------------------------------------------------------------


async def test_core_answering_with_sse_streams_gives_the_same_results_and_errors(
    sse_core: ThreadServer, core: ThreadServer, tenant: Tenant
) -> None:
    expected = await official_error(core, tenant)
    kinds: list[str] = []
    async with ScriptedMcp(forwarding(sse_core.url + "/mcp", kinds)) as proxy:
        tools = toolset(proxy.wire, tenant.read_key)
        # The handshake revision: core answers the single-exchange one with JSON in any mode.
        await tools.session.initialize()
        answer = await tools.direct_call_tool("list_bases", {})
        with pytest.raises(ModelRetry) as caught:
            await tools.direct_call_tool("list_records", missing_table_args(tenant))
    assert tenant.base_id in [base["id"] for base in answer["bases"]]
    assert caught.value.message == expected
    assert proxy.methods() == [
        "initialize",
        "notifications/initialized",
        "tools/call",
        "tools/call",
    ]
    # Every request was answered with a stream (a notification would get 202 and no body).
    answered = [kind for seen, kind in zip(proxy.seen, kinds, strict=True) if "id" in seen.message]
    assert answered
    assert all(kind.startswith("text/event-stream") for kind in answered), kinds


async def test_an_sse_answer_is_read_to_the_response_with_the_requests_id_skipping_the_rest() -> (
    None
):
    async def streaming(seen: Seen) -> Reply:
        if seen.method != "tools/call" or seen.modern:
            return await standard(seen)
        message = seen.message
        return sse_reply(
            # A priming event (2025-11-25 servers with resumable streams): an id, empty data.
            b"id: 0\ndata: \n\n",
            sse_event(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/progress",
                    "params": {"progressToken": 1, "progress": 0.5},
                }
            ),
            # A request of the server's own, whose id happens to equal the client's.
            sse_event({"jsonrpc": "2.0", "id": message["id"], "method": "ping"}),
            sse_event(response(message, standard_result(message))),
            sse_event({"jsonrpc": "2.0", "method": "notifications/message", "params": {}}),
        )

    async with ScriptedMcp(streaming) as server:
        answer = await toolset(server.wire, "t").direct_call_tool("echo", {"text": "hi"})
    assert answer == {"arguments": {"text": "hi"}, "meta": None}


# --- 6. sessions and dropped connections ----------------------------------------------------

# One handshake, one tool list, then two calls.
ONE_SESSION_TWO_CALLS = [
    "initialize",
    "notifications/initialized",
    "tools/list",
    "tools/call",
    "tools/call",
]


def with_session(handler: Handler, session_ids: Iterator[str]) -> Handler:
    """A server handing out a new session id at each handshake."""

    async def sessions(seen: Seen) -> Reply | None:
        reply = await handler(seen)
        if reply is not None and seen.method == "initialize":
            reply.headers["Mcp-Session-Id"] = next(session_ids)
        return reply

    return sessions


async def test_a_session_id_from_the_handshake_is_sent_back_on_every_later_request() -> None:
    async with ScriptedMcp(with_session(standard, iter(["abc"]))) as server:
        tools = toolset(server.wire, "t")
        await tools.tool_definitions()
        await tools.direct_call_tool("echo", {"text": "one"})
        await tools.direct_call_tool("echo", {"text": "two"})
    assert server.handshake_methods() == ONE_SESSION_TWO_CALLS
    handshake, *later = server.handshake_era()
    assert "mcp-session-id" not in handshake.headers
    assert [seen.headers.get("mcp-session-id") for seen in later] == ["abc"] * 4


async def test_a_forgotten_session_is_opened_again_and_the_request_sent_again() -> None:
    forgotten: set[str] = set()

    async def forgetful(seen: Seen) -> Reply | None:
        session = seen.headers.get("mcp-session-id")
        if seen.method == "tools/call" and session == "abc" and session not in forgotten:
            forgotten.add(session)
            return Reply(404, b"session not found", {"Content-Type": "text/plain"})
        return await standard(seen)

    async with ScriptedMcp(with_session(forgetful, iter(["abc", "def"]))) as server:
        tools = toolset(server.wire, "t")
        await tools.tool_definitions()
        answer = await tools.direct_call_tool("echo", {"text": "again"})
    assert answer["arguments"] == {"text": "again"}
    assert [
        (seen.method, seen.headers.get("mcp-session-id")) for seen in server.handshake_era()
    ] == [
        ("initialize", None),
        ("notifications/initialized", "abc"),
        ("tools/list", "abc"),
        ("tools/call", "abc"),
        ("initialize", None),
        ("notifications/initialized", "def"),
        ("tools/call", "def"),
    ]


def dropping(method: str, times: int) -> Handler:
    """A server dropping the connection, without answering, on the first ``times`` requests
    of ``method``."""
    left = [times]

    async def drop(seen: Seen) -> Reply | None:
        if seen.method == method and not seen.modern and left[0] > 0:
            left[0] -= 1
            return None
        return await standard(seen)

    return drop


async def test_a_tool_call_is_not_sent_again_when_the_connection_drops_before_the_answer() -> None:
    async with ScriptedMcp(dropping("tools/call", times=2)) as server:
        connector = McpConnector(server.url, timeout=30)
        try:
            tools = toolset(server.wire, "t")
            await tools.tool_definitions()
            with pytest.raises(McpConnectionLost):
                await tools.direct_call_tool("echo", {"text": "write once"})
            # The single-exchange attempt (refused, it did not run) and the one real call.
            assert server.handshake_methods().count("tools/call") == 1
            # Outside the agent (approvals, undo) the caller gets a clean 502, not a 500.
            with pytest.raises(McpUnavailable):
                await connector.call("t", "echo", {"text": "write once"}, session_id=None)
            assert [s.method for s in server.seen if not s.modern].count("tools/call") == 2
        finally:
            await connector.aclose()
    # In a chat turn, an OSError is reported as mcp_unavailable (chat/service.py).
    assert issubclass(McpConnectionLost, OSError)


async def test_a_tool_list_is_sent_again_when_the_connection_drops_before_the_answer() -> None:
    async with ScriptedMcp(dropping("tools/list", times=1)) as server:
        definitions = await toolset(server.wire, "t").tool_definitions()
    assert [d.name for d in definitions] == ["echo"]
    assert server.handshake_methods().count("tools/list") == 2


# --- 7. per-call _meta ----------------------------------------------------------------------


async def test_a_pooled_toolset_names_the_turns_chat_session_and_request_id_in_meta() -> None:
    chat_session = uuid.uuid4()
    async with ScriptedMcp(standard) as server:
        connector = McpConnector(server.url, timeout=30)
        try:
            tools = await connector.user_toolset("t")
            outside = await tools.direct_call_tool("echo", {"text": "no turn"})
            turn = TurnContext(session_id=chat_session, request_id="req-meta-1")
            token = current_turn.set(turn)
            try:
                inside = await (await connector.user_toolset("t")).direct_call_tool(
                    "echo", {"text": "in a turn"}
                )
            finally:
                current_turn.reset(token)
        finally:
            await connector.aclose()
    assert outside["meta"] is None
    assert inside["meta"] == {META_CHAT_SESSION: str(chat_session), META_REQUEST_ID: "req-meta-1"}
    assert turn.upstream_ms == 12.5
    # One pooled session: one handshake and one tool list for both calls.
    assert server.handshake_methods() == ONE_SESSION_TWO_CALLS
    assert all(seen.headers.get("x-pap-channel") == "chat" for seen in server.seen)


async def test_core_records_the_turns_chat_session_and_request_id_on_a_previewed_write(
    core: ThreadServer, tenant: Tenant, infra: Infra
) -> None:
    chat_session, request_id = uuid.uuid4(), f"req-{uuid.uuid4().hex}"
    connector = McpConnector(core.url + "/mcp", timeout=60)
    token = current_turn.set(TurnContext(session_id=chat_session, request_id=request_id))
    try:
        tools = await connector.user_toolset(tenant.write_key)
        preview = await tools.direct_call_tool(
            "preview_changes",
            {
                "operation": "create",
                "base_id": tenant.base_id,
                "table": TABLE,
                "records": [{"Name": "Meta probe"}],
            },
        )
    finally:
        current_turn.reset(token)
        await connector.aclose()
    rows = owner_rows(
        infra,
        "SELECT channel, session_id, request_id FROM actions WHERE id = %s",
        preview["action_id"],
    )
    assert rows == [("chat", chat_session, request_id)]
