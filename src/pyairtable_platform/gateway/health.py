"""``GET /api/health``: the aggregate health the earlier system's frontend asked for and
never got."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Request
from pydantic import BaseModel

from pyairtable_platform.gateway.config import GatewaySettings
from pyairtable_platform.kit.app import get_resources
from pyairtable_platform.kit.responses import JSONResponse

router = APIRouter(tags=["health"])

Status = Literal["healthy", "degraded", "unhealthy"]


class ComponentHealth(BaseModel):
    status: Literal["healthy", "unhealthy"]
    latency_ms: float
    detail: str | None = None


class AggregateHealth(BaseModel):
    status: Status
    services: dict[str, ComponentHealth]


async def _probe(client: httpx.AsyncClient, url: str, limit: float) -> ComponentHealth:
    start = time.perf_counter()
    try:
        response = await client.get(url, timeout=limit)
    except httpx.TimeoutException:
        detail: str | None = f"no answer within {limit:g}s"
        ok = False
    except httpx.HTTPError as exc:
        detail, ok = f"unreachable: {type(exc).__name__}", False
    else:
        ok = response.status_code == 200
        detail = None if ok else _not_ready_detail(response)
    latency = round((time.perf_counter() - start) * 1000, 2)
    return ComponentHealth(
        status="healthy" if ok else "unhealthy", latency_ms=latency, detail=detail
    )


def _not_ready_detail(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    return f"HTTP {response.status_code}"


def summarize(services: dict[str, ComponentHealth]) -> Status:
    """Core carries every request but chat, so it alone decides 'unhealthy'."""
    if services["core"].status == "unhealthy":
        return "unhealthy"
    if any(s.status == "unhealthy" for s in services.values()):
        return "degraded"
    return "healthy"


@router.get("/api/health", response_model=AggregateHealth)
async def aggregate_health(request: Request) -> JSONResponse:
    """Readiness of gateway, core and ai, probed concurrently; 503 only when unhealthy."""
    resources = get_resources(request)
    settings = resources.settings
    assert isinstance(settings, GatewaySettings)
    timeout = settings.health_timeout_seconds

    async def own_redis() -> ComponentHealth:
        start = time.perf_counter()
        try:
            await asyncio.wait_for(resources.redis.ping(), timeout)
        except Exception as exc:  # any failure means the gateway cannot rate-limit
            return ComponentHealth(
                status="unhealthy",
                latency_ms=round((time.perf_counter() - start) * 1000, 2),
                detail=f"redis: {type(exc).__name__}",
            )
        return ComponentHealth(
            status="healthy", latency_ms=round((time.perf_counter() - start) * 1000, 2)
        )

    core, ai, gateway = await asyncio.gather(
        _probe(resources.http, f"{settings.core_url}/ready", timeout),
        _probe(resources.http, f"{settings.ai_url}/ready", timeout),
        own_redis(),
    )
    services = {"gateway": gateway, "core": core, "ai": ai}
    status = summarize(services)
    body = AggregateHealth(status=status, services=services)
    return JSONResponse(body.model_dump(), status_code=503 if status == "unhealthy" else 200)
