"""The unified gateway (port 8000): the platform's only public entry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from pyairtable_platform.gateway.auth import Authenticator
from pyairtable_platform.gateway.config import GatewaySettings
from pyairtable_platform.gateway.health import router as health_router
from pyairtable_platform.gateway.openapi import OpenAPIAggregator
from pyairtable_platform.gateway.openapi import router as openapi_router
from pyairtable_platform.gateway.proxy import Proxy, ProxyRoute, create_upstream_client
from pyairtable_platform.gateway.ratelimit import RateLimiter
from pyairtable_platform.gateway.security import OriginCORSMiddleware, SecurityHeadersMiddleware
from pyairtable_platform.gateway.static import FrontendRoute
from pyairtable_platform.kit.app import Resources, create_service_app

CORS_ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "X-API-Key",
    "X-Request-ID",
    "Last-Event-ID",
    "Mcp-Session-Id",
    "Mcp-Protocol-Version",
    "traceparent",
    "tracestate",
]
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    "Mcp-Session-Id",
    "Location",
]


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def gateway_resources(app: FastAPI, resources: Resources) -> AsyncIterator[None]:
        client = create_upstream_client(settings)
        try:
            authenticator = Authenticator(
                core_url=settings.core_url,
                http=resources.http,
                redis=resources.redis,
                token_cache_seconds=settings.token_cache_seconds,
                token_cache_size=settings.token_cache_size,
            )
            app.state.proxy = Proxy(
                settings,
                client,
                authenticator,
                RateLimiter(
                    resources.redis,
                    lease_fraction=settings.rate_limit_lease_fraction,
                    lease_seconds=settings.rate_limit_lease_seconds,
                ),
            )
            app.state.openapi = OpenAPIAggregator(
                app,
                resources.http,
                {"core": settings.core_url, "ai": settings.ai_url},
                settings.openapi_cache_seconds,
            )
            yield
        finally:
            await client.close()

    app = create_service_app(
        service="gateway",
        settings=settings,
        title="PyAirtable Platform gateway",
        routers=[health_router, openapi_router],
        extensions=[gateway_resources],
        # The gateway publishes the merged reference at /api/openapi.json instead.
        openapi_url=None,
    )
    # API calls are the hot path: the proxy route is matched first, the frontend's
    # catch-all last.
    app.router.routes.insert(0, ProxyRoute())
    app.router.routes.append(FrontendRoute(settings.frontend_dir))
    app.add_middleware(
        OriginCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=CORS_ALLOW_HEADERS,
        expose_headers=CORS_EXPOSE_HEADERS,
        max_age=600,
    )
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    return app
