"""Fixtures of the REST, mirror, search and aggregate tests (imported by those modules).

``platform_core``: a core server of its own whose sandbox endpoint is itself (its port is
chosen first, so the sandbox connections it creates reach it). ``world``: a registered user
owning a workspace connected to its sandbox, with the demo base "Product Launch" (links,
lookups, rollups) and a pyairtable ``Api`` with a sandbox token of the same workspace, to
change data behind the platform's back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pyairtable import Api

from pyairtable_platform.core.app import create_app
from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.core.sandbox.seed import seed_sandbox_demo
from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.devinfra.throwaway import Infra
from pyairtable_platform.kit.db import create_engine, create_session_factory
from tests.core.accounts.helpers import Account, bearer, register, settings_for
from tests.support.servers import ThreadServer


@dataclass
class Platform:
    server: ThreadServer
    settings: CoreSettings

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def sandbox_url(self) -> str:
        return self.server.url + "/sandbox"


@pytest.fixture(scope="session")
def platform_core(infra: Infra) -> Iterator[Platform]:
    port = free_port()
    settings = settings_for(infra, port=port)
    with ThreadServer(create_app(settings), port=port) as server:
        yield Platform(server, settings)


@pytest.fixture
def http(platform_core: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform_core.url, timeout=120) as client:
        yield client


@dataclass
class World:
    account: Account
    base_id: str
    connection_id: str
    api: Api  # pyairtable with a sandbox token of the same workspace

    @property
    def headers(self) -> dict[str, str]:
        return self.account.headers

    def path(self, rest: str = "") -> str:
        return f"/api/v1/airtable/bases/{self.base_id}{rest}"


def seed_demo_base(infra: Infra, workspace_id: uuid.UUID) -> str:
    async def run() -> str:
        engine = create_engine(infra.app_url, pool_size=1)
        try:
            base_id, _ = await seed_sandbox_demo(create_session_factory(engine), workspace_id)
        finally:
            await engine.dispose()
        return base_id

    return asyncio.run(run())


def connect_world(http: httpx.Client, infra: Infra, platform: Platform) -> World:
    account = register(http)
    base_id = seed_demo_base(infra, account.workspace_id)
    response = http.post(
        "/api/v1/airtable/connections",
        json={"name": "Sandbox", "kind": "sandbox"},
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    connection_id = response.json()["id"]
    token = http.post("/api/v1/sandbox/tokens", json={}, headers=account.headers)
    assert token.status_code == 201, token.text
    api = Api(token.json()["token"], endpoint_url=platform.sandbox_url, timeout=(5, 60))
    return World(account, base_id, connection_id, api)


@pytest.fixture
def world(http: httpx.Client, infra: Infra, platform_core: Platform) -> World:
    return connect_world(http, infra, platform_core)


def sync(http: httpx.Client, world: World, *, full: bool = False) -> dict[str, Any]:
    response = http.post(
        world.path("/sync"), json={"wait": True, "full": full}, headers=world.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "ok", body
    return body


def wait_for(predicate: Any, timeout: float = 60.0, interval: float = 0.05) -> Any:
    """Poll a condition with a bounded timeout (never sleep to wait)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def add_member(http: httpx.Client, world: World, role: str) -> dict[str, str]:
    """A new user with ``role`` in the world's workspace; their headers, switched to it."""
    from tests.core.accounts.helpers import switch

    member = register(http)
    response = http.post(
        f"/api/v1/workspaces/{world.account.workspace_id}/members",
        json={"email": member.email, "role": role},
        headers=world.headers,
    )
    assert response.status_code == 201, response.text
    return bearer(switch(http, member, world.account.workspace_id))
