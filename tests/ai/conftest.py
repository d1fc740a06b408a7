"""Fixtures of the ai tests: a scripted OpenAI-compatible fake provider on loopback, an ai
service configured to use it (and to reach the real core's MCP server of the ``stack``), and
workspaces with the sandbox demo base."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from pyairtable_platform.ai.app import create_app
from pyairtable_platform.ai.config import AiSettings
from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.devinfra.throwaway import Infra
from tests.ai.fakes.openai_server import create_openai_app
from tests.ai.fakes.script import Recorder, Script, ScriptedFake
from tests.core.mcp.conftest import Tenant, make_tenant
from tests.support.servers import ThreadServer

FAKE_MODEL = "fake-model"
# USD per million tokens: round numbers so expected costs are easy to compute by hand.
FAKE_PRICES = {"input": "1", "output": "4", "cached_input": "0.5"}


class FakeProvider(ScriptedFake):
    @property
    def base_url(self) -> str:
        return self.server.url + "/v1"


@pytest.fixture(scope="session")
def fake_provider() -> Iterator[FakeProvider]:
    script, recorder = Script(), Recorder()
    with ThreadServer(create_openai_app(script, recorder)) as server:
        yield FakeProvider(server, script, recorder)


@pytest.fixture(scope="session")
def core(service_env: dict[str, str]) -> Iterator[ThreadServer]:
    """Core on a port it knows, so that it reaches its own sandbox (``stack``'s core is told
    port 8001 while it listens on another)."""
    from pyairtable_platform.core.app import create_app as create_core
    from pyairtable_platform.core.config import CoreSettings

    port = free_port()
    # The tests also read the sandbox directly (pyairtable snapshots) beside the platform's
    # own limited traffic; with the sandbox's 5 req/s limit on, that mix can draw a 429 and a
    # 30-s pause of the base. Rate limits are tested in tests/core/sandbox and airtable.
    settings = CoreSettings(port=port, sandbox_rate_limit_enabled=False)
    with ThreadServer(create_core(settings), port=port) as server:
        yield server


def ai_settings(core: ThreadServer, fake: FakeProvider, **overrides: Any) -> AiSettings:
    values: dict[str, Any] = {
        "core_url": core.url,
        "llm_provider": "openai-compatible",
        "openai_base_url": fake.base_url,
        "llm_model": FAKE_MODEL,
        "model_prices": {FAKE_MODEL: FAKE_PRICES},
        "provider_max_retries": 0,
    }
    return AiSettings(**(values | overrides))


@pytest.fixture(scope="session")
def ai(core: ThreadServer, fake_provider: FakeProvider) -> Iterator[ThreadServer]:
    """An ai service whose deployment provider is the fake."""
    with ThreadServer(create_app(ai_settings(core, fake_provider))) as server:
        yield server


@pytest.fixture(scope="session")
async def tenant(core: ThreadServer, infra: Infra) -> Tenant:
    return await make_tenant(core.url, infra.app_url)


@pytest.fixture
async def fresh_tenant(core: ThreadServer, infra: Infra) -> Tenant:
    """A workspace of its own, for tests that change workspace-wide settings (budgets)."""
    return await make_tenant(core.url, infra.app_url)


@pytest.fixture
async def client(ai: ThreadServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=ai.url, timeout=60) as http:
        yield http


def auth(tenant: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.access_token}"}


@dataclass(frozen=True)
class Sse:
    type: str
    data: dict[str, Any]


def parse_sse(raw: str) -> list[Sse]:
    events = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        kind, data = "", ""
        for line in block.splitlines():
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
        events.append(Sse(kind, orjson.loads(data) if data else {}))
    return events


def owner_rows(infra: Infra, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows read as the superuser (RLS does not apply), to check what the service stored."""
    with psycopg.connect(infra.superuser_url, dbname=infra.database) as conn:
        return conn.execute(sql, params).fetchall()


def new_id() -> str:
    return uuid.uuid4().hex
