"""``pyairtable-platform mcp-stdio``: a desktop client's stdio ⇄ the platform's streamable
HTTP endpoint. Messages are relayed as they are (initialize included), so the client talks
to the real server, with the API key sent on every request."""

from __future__ import annotations

import logging

import anyio
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared._httpx_utils import create_mcp_http_client

logger = logging.getLogger(__name__)


async def relay(url: str, api_key: str) -> None:
    """Relay until stdin closes (the desktop client quits)."""
    headers = {"Authorization": f"Bearer {api_key}", "User-Agent": "pyairtable-platform-mcp-stdio"}
    async with (
        stdio_server() as (local_read, local_write),
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(url, http_client=http, terminate_on_close=False) as (
            remote_read,
            remote_write,
        ),
        anyio.create_task_group() as tg,
    ):

        async def upstream() -> None:
            async for message in local_read:
                if isinstance(message, Exception):
                    logger.warning("unreadable message from the client: %s", message)
                    continue
                await remote_write.send(message)
            tg.cancel_scope.cancel()

        async def downstream() -> None:
            async for message in remote_read:
                if isinstance(message, Exception):
                    # The platform could not be reached or refused the request (a bad key
                    # answers 401): tell the client on stderr; the pending request times out.
                    continue
                await local_write.send(message)

        tg.start_soon(upstream)
        tg.start_soon(downstream)
