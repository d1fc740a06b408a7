"""Liveness, readiness, metrics and request ids on every service, over real HTTP."""

import re

import httpx
import pytest

from tests.conftest import Stack


@pytest.mark.parametrize("service", ["gateway", "core", "ai"])
async def test_health_answers_without_dependencies(stack: Stack, service: str) -> None:
    server = getattr(stack, service)
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server.url}/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["service"] == service


@pytest.mark.parametrize(
    ("service", "components"),
    [("gateway", {"redis"}), ("core", {"postgres", "redis"}), ("ai", {"postgres", "redis"})],
)
async def test_ready_checks_each_dependency(
    stack: Stack, service: str, components: set[str]
) -> None:
    server = getattr(stack, service)
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server.url}/ready")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ready"
    assert set(body["checks"]) == components
    assert all(check["ok"] for check in body["checks"].values())


async def test_metrics_count_requests_by_route_template(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.core.url) as client:
        await client.get("/ready")
        await client.get("/no/such/path/123")
        text = (await client.get("/metrics")).text
    assert re.search(
        r'http_requests_total\{method="GET",route="/ready",service="core",status="200"\} \d', text
    )
    # Unknown paths are folded into one label value, never the raw path.
    assert 'route="unmatched",service="core",status="404"' in text
    assert "/no/such/path/123" not in text
    assert "process_resident_memory_bytes" in text
    assert "http_request_duration_seconds_bucket" in text


async def test_request_id_is_echoed_or_generated(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.core.url) as client:
        echoed = await client.get("/health", headers={"X-Request-ID": "abc-123"})
        generated = await client.get("/health")
        unsafe = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert echoed.headers["x-request-id"] == "abc-123"
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["x-request-id"])


async def test_unknown_path_gets_the_error_shape(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.core.url) as client:
        response = await client.get("/nowhere", headers={"X-Request-ID": "rid-404"})
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not Found", "request_id": "rid-404"}


async def test_wrong_method_gets_405_in_the_error_shape(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.core.url) as client:
        response = await client.post("/health")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert response.json()["request_id"] == response.headers["x-request-id"]
