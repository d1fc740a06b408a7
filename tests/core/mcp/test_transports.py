"""The same server through the gateway's /mcp and through `pyairtable-platform mcp-stdio`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from mcp import Client, StdioServerParameters

from pyairtable_platform.devinfra.throwaway import Infra
from tests.core.mcp.conftest import Servers, Tenant, mcp_client, payload


async def test_the_gateway_proxies_mcp_to_core(servers: Servers, tenant: Tenant) -> None:
    async with mcp_client(servers.gateway.url + "/mcp", tenant.read_key) as mcp:
        tools = {t.name for t in (await mcp.list_tools()).tools}
        bases = payload(await mcp.call_tool("list_bases", {}))
    assert "list_records" in tools
    assert bases["bases"][0]["id"] == tenant.base_id


async def test_mcp_stdio_relays_a_desktop_client_to_the_platform(
    servers: Servers, tenant: Tenant
) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "pyairtable_platform.cli",
            "mcp-stdio",
            "--url",
            servers.core.url + "/mcp",
            "--api-key",
            tenant.read_key,
        ],
        env={**os.environ},
    )
    async with Client(params, mode="legacy", read_timeout_seconds=60) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        answer = payload(
            await client.call_tool("list_tables", {"base_id": tenant.base_id, "detail": "ids"})
        )
    assert {"list_bases", "apply_action", "revert_action"} <= tools
    assert {t["name"] for t in answer["tables"]} >= {"Tasks", "Deals"}


async def test_api_key_create_prints_a_key_that_connects_an_mcp_client(
    servers: Servers, infra: Infra
) -> None:
    created = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pyairtable_platform.cli", "api-key", "create", "--scope", "read"],
        env={**os.environ, "DATABASE_URL": infra.app_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("pap_")
    async with mcp_client(servers.core.url + "/mcp", key) as mcp:
        answer = payload(await mcp.call_tool("list_actions", {}))
    assert "actions" in answer
