"""Fixtures of the MCP tests: a workspace of its own (a registered user, API keys, the demo
base "Product Launch" in the sandbox behind a sandbox connection), reached through the
official MCP client over streamable HTTP against the running core (the ``stack`` fixture)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import orjson
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult
from pyairtable import Api

from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.core.sandbox.admin import issue_cli_token
from pyairtable_platform.core.sandbox.seed import DEMO_BASE_NAME, seed_sandbox_demo
from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.devinfra.throwaway import Infra
from pyairtable_platform.kit.db import create_engine, create_session_factory
from tests.support.env import environ
from tests.support.servers import ThreadServer


@dataclass
class Tenant:
    user_id: uuid.UUID
    workspace_id: uuid.UUID
    access_token: str
    write_key: str
    read_key: str
    base_id: str
    sandbox_token: str


async def make_tenant(core_url: str, app_url: str) -> Tenant:
    from pyairtable_platform.core.airtable.connections import ensure_sandbox_connection

    async with httpx.AsyncClient(base_url=core_url, timeout=30) as http:
        email = f"mcp-{secrets.token_hex(6)}@example.com"
        password = f"mcp-tests-{secrets.token_urlsafe(12)}"
        registered = await http.post(
            "/api/v1/auth/register",
            json={"email": email, "password": password, "full_name": "M C P"},
        )
        assert registered.status_code == 201, registered.text
        token = registered.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        who = (await http.get("/api/v1/auth/whoami", headers=auth)).json()
        keys = {}
        for scope in ("write", "read"):
            created = await http.post(
                "/api/v1/api-keys", json={"name": f"mcp {scope}", "scope": scope}, headers=auth
            )
            assert created.status_code == 201, created.text
            keys[scope] = created.json()["key"]
    workspace_id, user_id = uuid.UUID(who["workspace_id"]), uuid.UUID(who["user_id"])
    engine = create_engine(app_url, pool_size=1)
    try:
        factory = create_session_factory(engine)
        base_id, _ = await seed_sandbox_demo(factory, workspace_id)
        await ensure_sandbox_connection(
            factory,
            CoreSettings().secret_box(),
            workspace_id,
            user_id,
            base=(base_id, DEMO_BASE_NAME),
        )
    finally:
        await engine.dispose()
    async with httpx.AsyncClient(base_url=core_url, timeout=120) as http:
        synced = await http.post(
            f"/api/v1/airtable/bases/{base_id}/sync",
            json={"wait": True, "full": True},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert synced.status_code == 200, synced.text
    issued = await issue_cli_token(app_url, str(workspace_id), "mcp tests")
    return Tenant(user_id, workspace_id, token, keys["write"], keys["read"], base_id, issued.token)


@dataclass
class Servers:
    core: ThreadServer
    gateway: ThreadServer


@pytest.fixture(scope="session")
def servers(service_env: dict[str, str]) -> Iterator[Servers]:
    """core (and a gateway in front of it) on a port known before it starts: core reaches
    its own sandbox at ``settings.port``, which the shared ``stack`` core does not know."""
    from pyairtable_platform.core.app import create_app as create_core
    from pyairtable_platform.gateway.app import create_app as create_gateway
    from pyairtable_platform.gateway.config import GatewaySettings

    port = free_port()
    # Airtable's 5 requests/s per base is the client's and the sandbox's business (tested in
    # tests/core/airtable); here it would only make every write test wait. Read at start.
    fast = {"CORE_AIRTABLE_RATE_PER_BASE": "1000", "CORE_AIRTABLE_RATE_PER_TOKEN": "10000"}
    with environ(fast):
        settings = CoreSettings(port=port, sandbox_rate_limit_enabled=False)
        core = ThreadServer(create_core(settings), port=port).start()
    gateway = ThreadServer(
        create_gateway(GatewaySettings(core_url=core.url, ai_url="http://127.0.0.1:9"))
    ).start()
    try:
        yield Servers(core, gateway)
    finally:
        gateway.stop()
        core.stop()


@pytest.fixture(scope="session")
async def tenant(servers: Servers, infra: Infra) -> Tenant:
    return await make_tenant(servers.core.url, infra.app_url)


@pytest.fixture(scope="session")
async def other_tenant(servers: Servers, infra: Infra) -> Tenant:
    return await make_tenant(servers.core.url, infra.app_url)


@asynccontextmanager
async def mcp_client(url: str, credential: str | None) -> AsyncIterator[Client]:
    """The official client over streamable HTTP, with the credential on every request."""
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60)) as http,
        Client(streamable_http_client(url, http_client=http), read_timeout_seconds=60) as client,
    ):
        yield client


def payload(answer: CallToolResult) -> Any:
    """The JSON a tool answered (asserting it is not an error)."""
    text = answer.content[0].text  # type: ignore[union-attr]
    assert not answer.is_error, text
    return orjson.loads(text)


def error_text(answer: CallToolResult) -> str:
    assert answer.is_error, answer.content
    return str(answer.content[0].text)  # type: ignore[union-attr]


CallTool = Callable[..., Any]


class Sandbox:
    """Direct pyairtable access to the tenant's sandbox base: the ground truth the tests
    compare with (never through the platform's cache)."""

    def __init__(self, core_url: str, tenant: Tenant) -> None:
        self.api = Api(tenant.sandbox_token, endpoint_url=core_url + "/sandbox")
        self.base_id = tenant.base_id

    async def records(self, table: str) -> dict[str, dict[str, Any]]:
        rows = await asyncio.to_thread(self.api.table(self.base_id, table).all)
        return {r["id"]: dict(r["fields"]) for r in rows}

    async def update(self, table: str, record_id: str, fields: dict[str, Any]) -> None:
        await asyncio.to_thread(self.api.table(self.base_id, table).update, record_id, fields)


@pytest.fixture
def sandbox(servers: Servers, tenant: Tenant) -> Sandbox:
    return Sandbox(servers.core.url, tenant)
