"""Test infrastructure: a throwaway PostgreSQL cluster and Redis server per test run,
migrated with Alembic at session start, and the three services as real HTTP servers.

Set TEST_PG_SUPERUSER_URL / TEST_REDIS_URL to use external servers instead.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.devinfra.throwaway import Infra, throwaway_infra
from tests.support.env import environ
from tests.support.servers import ThreadServer

TEST_DATABASE = "pap_test"


def _block_outside_network() -> None:
    """Fail fast on any attempt to leave loopback (no test may reach the internet)."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        if isinstance(address, tuple) and self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            if not (host.startswith("127.") or host in ("::1", "localhost")):
                raise ConnectionRefusedError(f"tests may not connect to {host}")
        return real_connect(self, address)  # type: ignore[arg-type]

    socket.socket.connect = guarded  # type: ignore[method-assign]


_block_outside_network()


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with throwaway_infra(TEST_DATABASE) as running:
        yield running


@pytest.fixture(scope="session")
def service_env(infra: Infra) -> Iterator[dict[str, str]]:
    """Environment the services read their settings from during the session."""
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": infra.app_url,
        "REDIS_URL": infra.redis_url,
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": secrets.token_urlsafe(48),
        # Every test calls from 127.0.0.1: per-IP gateway limits would throttle the suite.
        # tests/gateway covers the limits with gateways of their own.
        "GATEWAY_RATE_LIMIT_ANONYMOUS": "1000000/minute",
        "GATEWAY_RATE_LIMIT_AUTH": "1000000/minute",
        "GATEWAY_RATE_LIMIT_AUTHENTICATED": "1000000/minute",
        "GATEWAY_RATE_LIMIT_SANDBOX": "1000000/minute",
    }
    with environ(env):
        yield env


@dataclass
class Stack:
    gateway: ThreadServer
    core: ThreadServer
    ai: ThreadServer


@pytest.fixture(scope="session")
def stack(service_env: dict[str, str]) -> Iterator[Stack]:
    from pyairtable_platform.ai.app import create_app as create_ai
    from pyairtable_platform.ai.config import AiSettings
    from pyairtable_platform.core.app import create_app as create_core
    from pyairtable_platform.core.config import CoreSettings
    from pyairtable_platform.gateway.app import create_app as create_gateway
    from pyairtable_platform.gateway.config import GatewaySettings

    # Core reaches its own sandbox at its host and port: tell it the port it really has.
    core_port = free_port()
    core = ThreadServer(create_core(CoreSettings(port=core_port)), port=core_port).start()
    ai = ThreadServer(create_ai(AiSettings(core_url=core.url))).start()
    gateway = ThreadServer(
        create_gateway(GatewaySettings(core_url=core.url, ai_url=ai.url))
    ).start()
    try:
        yield Stack(gateway=gateway, core=core, ai=ai)
    finally:
        for server in (gateway, ai, core):
            server.stop()


@pytest.fixture
async def gateway_client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
        yield client
