"""Fixtures of the Airtable client tests: Redis from the session infra, an upstream
stand-in the tests control, and a helper to run the same code in a second OS process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from pyairtable_platform.core.airtable import AirtableClient, AirtableConnection
from pyairtable_platform.core.airtable.config import AirtableSettings
from pyairtable_platform.devinfra.throwaway import Infra
from pyairtable_platform.kit.redis import create_redis
from tests.core.airtable.upstream import Upstream
from tests.support.servers import ThreadServer

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def redis(infra: Infra) -> AsyncIterator[Redis]:
    client = create_redis(infra.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def upstream() -> Iterator[tuple[Upstream, str]]:
    state = Upstream()
    state.add_table("tblTasks0000000001", "Tasks", ["Name", "Status"])
    server = ThreadServer(state.app()).start()
    try:
        yield state, server.url
    finally:
        if state.hold is not None:
            state.hold.set()
        server.stop()


def fast_settings(**overrides: Any) -> AirtableSettings:
    """Production defaults, with waits short enough for tests where a test needs it."""
    values: dict[str, Any] = {"retry_backoff_seconds": 0.01, **overrides}
    return AirtableSettings(**values)


@pytest.fixture
async def make_client(redis: Redis) -> AsyncIterator[Any]:
    clients: list[AirtableClient] = []

    def make(
        endpoint: str,
        settings: AirtableSettings | None = None,
        token: str = "token",
        connection_id: str | None = None,
        **kwargs: Any,
    ) -> AirtableClient:
        connection = AirtableConnection(connection_id or uuid.uuid4().hex, token, endpoint)
        client = AirtableClient(redis, settings or fast_settings(), connection, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


class Worker:
    """A second OS process running tests/core/airtable/worker.py."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.core.airtable.worker", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: asyncio.Queue[Any] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                loop.call_soon_threadsafe(self.lines.put_nowait, orjson.loads(line))
            loop.call_soon_threadsafe(self.lines.put_nowait, None)

        threading.Thread(target=pump, daemon=True).start()

    async def expect(self, within: float = 60) -> Any:
        message = await asyncio.wait_for(self.lines.get(), within)
        if message is None:
            raise AssertionError(f"worker exited early with {self.proc.wait()}")
        return message

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def worker() -> Iterator[Any]:
    started: list[Worker] = []

    def start(*args: str) -> Worker:
        w = Worker(*args)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


async def wait_until(predicate: Any, within: float = 10.0) -> None:
    """Poll a condition with a bounded timeout (tests never sleep to wait)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - the condition lives in another thread
            await asyncio.sleep(0.01)


# --- the sandbox Airtable (core mounted at /sandbox, its 5 req/s limit ON) -------------


@pytest.fixture(scope="session")
def sandbox_core(service_env: dict[str, str]) -> Iterator[str]:
    from pyairtable_platform.core.app import create_app
    from pyairtable_platform.core.config import CoreSettings

    server = ThreadServer(create_app(CoreSettings())).start()
    yield server.url + "/sandbox"
    server.stop()


@pytest.fixture
def sandbox(sandbox_core: str, infra: Infra) -> tuple[str, str, str]:
    """(endpoint, token, base id) of a fresh workspace with a two-table base."""
    from pyairtable import Api

    from tests.core.sandbox.conftest import create_tenant

    tenant = create_tenant(infra.app_url)
    api = Api(tenant.token, endpoint_url=sandbox_core, timeout=(5, 30))
    base = api.create_base(
        str(tenant.workspace_id),
        "Client tests",
        [
            {
                "name": "Tasks",
                "fields": [
                    {"name": "Name", "type": "singleLineText"},
                    {"name": "Status", "type": "singleLineText"},
                ],
            }
        ],
    )
    return sandbox_core, tenant.token, base.id


def inject(endpoint: str, token: str, base_id: str, **fault: Any) -> None:
    """Ask the sandbox to inject a fault on the base (its /_faults admin API)."""
    import httpx

    body = {"scope": "base", "baseId": base_id, **fault}
    response = httpx.post(
        f"{endpoint}/_faults", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    response.raise_for_status()


def clear_faults(endpoint: str, token: str, base_id: str) -> None:
    import httpx

    response = httpx.delete(
        f"{endpoint}/_faults",
        params={"baseId": base_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
