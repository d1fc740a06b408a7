"""The wire side of the ai service's MCP client: JSON-RPC over streamable HTTP to core's ``/mcp``.

It speaks the MCP streamable HTTP transport (protocol revision ``2025-11-25``, the newest one
reached by the ``initialize`` handshake) for what the ai service asks of core: the handshake
(``initialize``, then ``notifications/initialized``), ``tools/list`` with its cursor, and
``tools/call``. Every request is a POST accepting ``application/json`` and
``text/event-stream``; an SSE answer is read until the response with the request's id (other
messages on the stream — progress, logs — are skipped). A server that hands out a session
(``Mcp-Session-Id``) gets it back on every request; when it forgets it (404) the client opens a
new one and sends the request again, as the transport specifies. Core's server is stateless, so
neither happens today.

Why not the SDK's client (docs/decisions/0007-lean-mcp-client.md): for two tool calls a chat
turn, the FastMCP + SDK client stack (anyio memory streams, a task per message, httpx2) cost
about a tenth of the ai service's CPU per turn and ~40 MB of its memory, for features
(notifications, sampling, elicitation, resumable streams) a stateless JSON server never uses.
The conformance tests in ``tests/ai/test_mcp_client.py`` hold this client to the protocol
against core's real server (the official SDK's).
"""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp
import orjson

PROTOCOL_VERSION = "2025-11-25"
# The single-exchange revision: no handshake, each request names its protocol version, client
# and capabilities in ``_meta`` and its method (and tool) in headers.
MODERN_PROTOCOL_VERSION = "2026-07-28"
UNSUPPORTED_PROTOCOL_VERSION = -32022  # JSON-RPC error code of that revision
CLIENT_INFO = {"name": "pyairtable-platform-ai", "version": "1"}
_ACCEPT = "application/json, text/event-stream"
# Idle connections are dropped before uvicorn's own 5-s keep-alive ends, so a request is never
# written into a connection core is closing (a tool call is not resent: it may be a write).
KEEPALIVE_SECONDS = 4.0
# Requests that may be sent again when a pooled connection turns out to be closed.
_IDEMPOTENT = frozenset({"initialize", "notifications/initialized", "tools/list"})


class McpProtocolError(Exception):
    """A JSON-RPC error answer (e.g. unknown tool, invalid arguments) or an answer that is not
    MCP at all."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class McpHttpError(Exception):
    """Core answered the HTTP request with an error status (401 for a revoked credential)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"the MCP server answered HTTP {status}: {body[:300]}")
        self.status = status


class McpConnectionLost(ConnectionError):
    """The connection to the MCP server failed or dropped before the answer (a tool call is
    not sent again: it may have run)."""


class _SessionGone(Exception):
    pass


class McpWire:
    """One HTTP connection pool to core for every MCP session of the process."""

    def __init__(self, url: str, *, max_connections: int = 256) -> None:
        self.url = url
        self._max_connections = max_connections
        self._http: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections, keepalive_timeout=KEEPALIVE_SECONDS
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                # Core is an internal service: no proxy from the environment applies to it.
                trust_env=False,
            )
        return self._http

    def next_id(self) -> int:
        return next(self._ids)

    async def post(
        self, headers: dict[str, str], message: dict[str, Any], *, seconds: float
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Send one JSON-RPC message; the answer to it (``None`` for a notification) and the
        session id the server named, if any."""
        try:
            try:
                return await self._post(headers, message, seconds=seconds)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                if message.get("method") not in _IDEMPOTENT:
                    raise
                return await self._post(headers, message, seconds=seconds)
        except aiohttp.ClientError as exc:
            if isinstance(exc, TimeoutError):
                raise
            # An OSError, as callers already treat an unreachable server (not a tool error).
            raise McpConnectionLost(f"the connection to the MCP server failed: {exc!r}") from exc

    async def _post(
        self, headers: dict[str, str], message: dict[str, Any], *, seconds: float
    ) -> tuple[dict[str, Any] | None, str | None]:
        request_headers = {**headers, "Accept": _ACCEPT, "Content-Type": "application/json"}
        async with self._client().post(
            self.url,
            data=orjson.dumps(message),
            headers=request_headers,
            timeout=aiohttp.ClientTimeout(total=seconds),
            allow_redirects=False,
        ) as response:
            session = response.headers.get("mcp-session-id")
            if response.status == 404 and "mcp-session-id" in {k.lower() for k in headers}:
                raise _SessionGone
            if response.status >= 400:
                raise McpHttpError(response.status, await response.text())
            if "id" not in message:
                return None, session  # a notification: 202, no body
            kind = response.headers.get("content-type", "")
            if kind.startswith("text/event-stream"):
                return await _from_stream(response, message["id"]), session
            body = await response.read()
        return _checked(_json(body), message["id"]), session

    async def aclose(self) -> None:
        if self._http is not None and not self._http.closed:
            await self._http.close()


async def _from_stream(response: aiohttp.ClientResponse, request_id: int) -> dict[str, Any]:
    data: list[bytes] = []
    async for raw in response.content:
        line = raw.rstrip(b"\r\n")
        if line.startswith(b"data:"):
            data.append(line[5:].lstrip(b" "))
        elif not line and data:
            payload, data = b"\n".join(data), []
            if not payload:
                continue  # a priming event (resumable streams): an event id, no message
            message = _json(payload)
            # Notifications and the server's own requests (whose ids are its own, so may equal
            # ours) are not the answer.
            if (
                isinstance(message, dict)
                and "method" not in message
                and message.get("id") == request_id
            ):
                return _checked(message, request_id)
    raise McpProtocolError("the MCP server closed the stream without answering the request")


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise McpProtocolError(f"the MCP server sent something else than JSON: {exc}") from exc


def _checked(answer: Any, request_id: int) -> dict[str, Any]:
    if not isinstance(answer, dict) or answer.get("id") != request_id:
        raise McpProtocolError("the MCP server's answer does not match the request")
    error = answer.get("error")
    if isinstance(error, dict):
        raise McpProtocolError(str(error.get("message") or error), error.get("code"))
    result = answer.get("result")
    if not isinstance(result, dict):
        raise McpProtocolError("the MCP server's answer carries no result")
    return result


class _ModernRefused(Exception):
    pass


class McpSession:
    """An MCP session as one credential.

    The first request is sent in the single-exchange revision (2026-07-28): core's server
    speaks it, and it spares core the per-request session of the handshake revisions (about
    1.7 ms of core's CPU per chat turn). A server that refuses it (an unsupported-version
    error, or a 400 as a stateful server answers a request without a session) gets the
    ``initialize`` handshake instead, and the request again — refused, it did not run.

    Not a connection: requests share the process's pool (:class:`McpWire`)."""

    def __init__(self, wire: McpWire, headers: dict[str, str], *, timeout: float) -> None:
        self.wire = wire
        self.headers = headers
        self.timeout = timeout
        self.protocol_version: str | None = None
        self.server_info: dict[str, Any] = {}
        self._session_id: str | None = None
        # None until the first answer tells whether the server speaks the modern revision.
        self.modern: bool | None = None

    def _headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.protocol_version:
            headers["MCP-Protocol-Version"] = self.protocol_version
        if self._session_id:
            headers["Mcp-Session-Id"] = self._session_id
        return headers

    async def initialize(self) -> None:
        """The handshake of the 2025-11-25 revision; requests after it use that revision."""
        self.modern = False
        self._session_id = None
        self.protocol_version = None
        message = {
            "jsonrpc": "2.0",
            "id": self.wire.next_id(),
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": CLIENT_INFO,
            },
        }
        result, session = await self.wire.post(self.headers, message, seconds=self.timeout)
        assert result is not None
        self._session_id = session
        self.protocol_version = str(result.get("protocolVersion") or PROTOCOL_VERSION)
        self.server_info = result.get("serverInfo") or {}
        await self.wire.post(
            self._headers(),
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            seconds=self.timeout,
        )

    async def _modern_request(
        self, method: str, params: dict[str, Any], seconds: float
    ) -> dict[str, Any]:
        envelope = {
            "io.modelcontextprotocol/protocolVersion": MODERN_PROTOCOL_VERSION,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
        }
        message = {
            "jsonrpc": "2.0",
            "id": self.wire.next_id(),
            "method": method,
            "params": {**params, "_meta": {**(params.get("_meta") or {}), **envelope}},
        }
        headers = {
            **self.headers,
            "MCP-Protocol-Version": MODERN_PROTOCOL_VERSION,
            "Mcp-Method": method,
        }
        if method == "tools/call":
            headers["Mcp-Name"] = str(params["name"])
        first_contact = self.modern is None
        try:
            result, _ = await self.wire.post(headers, message, seconds=seconds)
        except McpHttpError as exc:
            if first_contact and exc.status == 400:
                raise _ModernRefused from exc
            raise
        except McpProtocolError as exc:
            if first_contact and exc.code == UNSUPPORTED_PROTOCOL_VERSION:
                raise _ModernRefused from exc
            raise
        assert result is not None
        if first_contact:
            self.modern = True
            self.protocol_version = MODERN_PROTOCOL_VERSION
        return result

    async def request(
        self, method: str, params: dict[str, Any], *, seconds: float | None = None
    ) -> dict[str, Any]:
        if self.modern is not False:
            try:
                return await self._modern_request(method, params, seconds or self.timeout)
            except _ModernRefused:
                self.modern = False
        if self.protocol_version is None:
            await self.initialize()
        for attempt in (1, 2):
            message = {"jsonrpc": "2.0", "id": self.wire.next_id(), "method": method}
            if params:
                message["params"] = params
            try:
                result, _ = await self.wire.post(
                    self._headers(), message, seconds=seconds or self.timeout
                )
            except _SessionGone:
                # The server no longer knows the session: the request never ran there.
                if attempt == 2:
                    raise McpProtocolError("the MCP server lost the session twice") from None
                await self.initialize()
                continue
            assert result is not None
            return result
        raise AssertionError("unreachable")

    async def list_tools(self) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            result = await self.request("tools/list", {"cursor": cursor} if cursor else {})
            tools.extend(result.get("tools") or [])
            cursor = result.get("nextCursor")
            if not cursor:
                return tools

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        meta: dict[str, Any] | None = None,
        seconds: float | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"name": name, "arguments": arguments}
        if meta:
            params["_meta"] = meta
        return await self.request("tools/call", params, seconds=seconds)
