"""GET /api/health aggregates core and ai readiness."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.gateway.app import create_app
from pyairtable_platform.gateway.config import GatewaySettings
from tests.conftest import Infra, Stack
from tests.support.servers import ThreadServer


async def test_healthy_when_core_and_ai_are_ready(gateway_client: httpx.AsyncClient) -> None:
    response = await gateway_client.get("/api/health")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "healthy"
    assert {name: s["status"] for name, s in body["services"].items()} == {
        "gateway": "healthy",
        "core": "healthy",
        "ai": "healthy",
    }
    assert all(s["latency_ms"] >= 0 for s in body["services"].values())


class Recorder:
    """A stand-in upstream that records the headers it was called with."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.seen: list[dict[str, str]] = []

        async def ready(request: Request) -> JSONResponse:
            self.seen.append(dict(request.headers))
            return JSONResponse({"status": "x", "detail": "unavailable: postgres"}, self.status)

        self.app = Starlette(routes=[Route("/ready", ready)])


@pytest.fixture
def gateway_for(infra: Infra) -> Iterator[Any]:
    servers: list[ThreadServer] = []

    def build(core_url: str, ai_url: str) -> ThreadServer:
        settings = GatewaySettings(
            core_url=core_url, ai_url=ai_url, redis_url=infra.redis_url, log_level="CRITICAL"
        )
        server = ThreadServer(create_app(settings)).start()
        servers.append(server)
        return server

    yield build
    for server in servers:
        server.stop()


async def test_degraded_with_200_when_only_ai_is_down(stack: Stack, gateway_for: Any) -> None:
    gateway = gateway_for(stack.core.url, f"http://127.0.0.1:{free_port()}")
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{gateway.url}/api/health")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["services"]["ai"]["status"] == "unhealthy"
    assert body["services"]["ai"]["detail"].startswith("unreachable")
    assert body["services"]["core"]["status"] == "healthy"


async def test_unhealthy_with_503_when_core_is_not_ready(stack: Stack, gateway_for: Any) -> None:
    not_ready = Recorder(status=503)
    with ThreadServer(not_ready.app) as fake_core:
        gateway = gateway_for(fake_core.url, stack.ai.url)
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{gateway.url}/api/health")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unhealthy"
    assert body["services"]["core"]["detail"] == "unavailable: postgres"


async def test_request_id_and_traceparent_reach_the_services(
    stack: Stack, gateway_for: Any
) -> None:
    recorder = Recorder()
    with ThreadServer(recorder.app) as fake_core:
        gateway = gateway_for(fake_core.url, stack.ai.url)
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        async with httpx.AsyncClient() as client:
            await client.get(
                f"{gateway.url}/api/health",
                headers={
                    "X-Request-ID": "req-trace-1",
                    "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
                },
            )
    headers = recorder.seen[-1]
    assert headers["x-request-id"] == "req-trace-1"
    version, seen_trace, parent_span, _flags = headers["traceparent"].split("-")
    assert version == "00"
    assert seen_trace == trace_id
    # A new span of the gateway is the parent, not the caller's span.
    assert parent_span != "00f067aa0ba902b7"
