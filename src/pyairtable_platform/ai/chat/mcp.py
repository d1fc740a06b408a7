"""The MCP client of the ai service: core's ``/mcp`` over streamable HTTP, authenticated with
the calling user's own credential, so the model can do exactly what that user's MCP client
could do and nothing more."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic_ai.mcp import MCPToolset

from pyairtable_platform.kit.context import current_request_id
from pyairtable_platform.kit.errors import PlatformError


class ToolCallFailed(PlatformError):
    status_code = 409
    error = "tool_failed"


class McpUnavailable(PlatformError):
    status_code = 502
    error = "mcp_unavailable"


def user_toolset(
    url: str, credential: str, *, session_id: uuid.UUID | None, timeout: float
) -> MCPToolset[Any]:
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
        url,
        headers=headers,
        id="platform",
        tool_error_behavior="retry",
        max_retries=2,
        init_timeout=timeout,
        read_timeout=timeout,
    )


async def call(
    url: str, credential: str, name: str, arguments: dict[str, Any], *, session_id: uuid.UUID | None
) -> Any:
    """Call one MCP tool outside the agent (applying or reverting an action for the user)."""
    from fastmcp.exceptions import ToolError

    toolset = user_toolset(url, credential, session_id=session_id, timeout=30.0)
    try:
        async with toolset:
            return await toolset.direct_call_tool(name, arguments)
    except ToolError as exc:
        raise ToolCallFailed(f"{name} failed: {exc}") from exc
    except (OSError, TimeoutError) as exc:
        raise McpUnavailable(f"cannot reach the MCP server: {exc}") from exc
