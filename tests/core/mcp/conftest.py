"""Fixtures of the MCP tests: a workspace of its own (a registered user, API keys, the demo
base "Product Launch" in the sandbox behind a sandbox connection), reached through the
official MCP client over streamable HTTP against the running core (the ``stack`` fixture)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable
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

from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.core.sandbox.seed import DEMO_BASE_NAME, seed_sandbox_demo
from pyairtable_platform.devinfra.throwaway import Infra
from pyairtable_platform.kit.db import create_engine, create_session_factory
from tests.conftest import Stack


@dataclass
class Tenant:
    user_id: uuid.UUID
    workspace_id: uuid.UUID
    access_token: str
    write_key: str
    read_key: str
    base_id: str


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
    return Tenant(user_id, workspace_id, token, keys["write"], keys["read"], base_id)


@pytest.fixture(scope="session")
async def tenant(stack: Stack, infra: Infra) -> Tenant:
    return await make_tenant(stack.core.url, infra.app_url)


@pytest.fixture(scope="session")
async def other_tenant(stack: Stack, infra: Infra) -> Tenant:
    return await make_tenant(stack.core.url, infra.app_url)


@asynccontextmanager
async def mcp_client(url: str, credential: str | None) -> AsyncIterator[Client]:
    """The official client over streamable HTTP, with the credential on every request."""
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60)) as http,
        Client(streamable_http_client(url, http_client=http), read_timeout_seconds=60) as client,
    ):
        yield client


@pytest.fixture
async def mcp(stack: Stack, tenant: Tenant) -> AsyncIterator[Client]:
    async with mcp_client(stack.core.url + "/mcp", tenant.write_key) as client:
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
