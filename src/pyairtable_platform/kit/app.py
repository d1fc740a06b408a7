"""The skeleton every service shares: lifespan-managed resources, health, readiness,
metrics, request ids, tracing and one error shape."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request

from pyairtable_platform import __version__
from pyairtable_platform.kit.db import create_engine, create_session_factory, ping
from pyairtable_platform.kit.errors import install_error_handlers
from pyairtable_platform.kit.http import create_http_client
from pyairtable_platform.kit.logging import configure_logging
from pyairtable_platform.kit.observability import (
    ObservabilityMiddleware,
    configure_tracing,
    metrics_endpoint,
)
from pyairtable_platform.kit.redis import create_redis
from pyairtable_platform.kit.responses import JSONResponse
from pyairtable_platform.kit.settings import DatabaseSettings, ServiceSettings

ReadinessCheck = Callable[[], Awaitable[None]]


@dataclass
class Resources:
    """What a service opens at start and closes at stop; handlers reach it via app.state."""

    settings: ServiceSettings
    redis: Redis
    http: httpx.AsyncClient
    engine: AsyncEngine | None = None
    session_factory: async_sessionmaker[AsyncSession] | None = None
    checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)


Extension = Callable[[FastAPI, Resources], AbstractAsyncContextManager[None]]


async def _run_check(check: ReadinessCheck, limit: float) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        await asyncio.wait_for(check(), limit)
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {limit:g}s"}
    except Exception as exc:  # readiness reports any failure; it must not raise itself
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "latency_ms": round((time.perf_counter() - start) * 1000, 2)}


def create_service_app(
    *,
    service: str,
    settings: ServiceSettings,
    title: str,
    description: str = "",
    routers: Sequence[APIRouter] = (),
    extensions: Sequence[Extension] = (),
    openapi_url: str | None = "/openapi.json",
) -> FastAPI:
    configure_logging(service, settings.log_level, settings.log_json)
    configure_tracing(service, settings.otel_exporter_otlp_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            redis = create_redis(settings.redis_url)
            stack.push_async_callback(redis.aclose)
            http = create_http_client()
            stack.push_async_callback(http.aclose)
            resources = Resources(settings=settings, redis=redis, http=http)

            async def redis_check() -> None:
                await redis.ping()

            if isinstance(settings, DatabaseSettings):
                engine = create_engine(
                    settings.database_url.get_secret_value(),
                    pool_size=settings.db_pool_size,
                    max_overflow=settings.db_max_overflow,
                    statement_timeout_ms=settings.db_statement_timeout_ms,
                    application_name=f"pap-{service}",
                )
                stack.push_async_callback(engine.dispose)
                resources.engine = engine
                resources.session_factory = create_session_factory(engine)

                async def postgres_check() -> None:
                    await ping(engine)

                resources.checks["postgres"] = postgres_check
            resources.checks["redis"] = redis_check
            app.state.resources = resources
            for extension in extensions:
                await stack.enter_async_context(extension(app, resources))
            # Everything built at start (modules, routes, models, pools) lives until the
            # process ends: moved out of the collector's reach, the full collections that
            # otherwise rescan it stop pausing the event loop for tens of milliseconds
            # under load (the p99 of bench/gateway.py).
            gc.freeze()
            yield {}

    app = FastAPI(
        title=title,
        description=description,
        version=__version__,
        lifespan=lifespan,
        openapi_url=openapi_url,
        docs_url="/docs" if openapi_url else None,
        redoc_url=None,
        # Our one middleware span is enough; FastAPI's native per-operation spans cost
        # more than the gateway's latency budget allows (docs/decisions/0001).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": service, "version": __version__})

    async def ready(request: Request) -> JSONResponse:
        resources: Resources = request.app.state.resources
        names = list(resources.checks)
        results = await asyncio.gather(
            *(_run_check(resources.checks[n], settings.ready_timeout_seconds) for n in names)
        )
        checks = dict(zip(names, results, strict=True))
        failing = [name for name, result in checks.items() if not result["ok"]]
        if failing:
            body = {
                "status": "not_ready",
                "service": service,
                "checks": checks,
                "error": "not_ready",
                "detail": f"unavailable: {', '.join(failing)}",
            }
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", "service": service, "checks": checks})

    for path, endpoint in (("/health", health), ("/ready", ready), ("/metrics", metrics_endpoint)):
        app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
    for router in routers:
        app.include_router(router)
    app.add_middleware(ObservabilityMiddleware, service=service, log_requests=settings.log_requests)
    return app


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources
