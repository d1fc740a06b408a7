"""The unified gateway (port 8000): the platform's only public entry."""

from __future__ import annotations

from fastapi import FastAPI

from pyairtable_platform.gateway.config import GatewaySettings
from pyairtable_platform.gateway.health import router as health_router
from pyairtable_platform.kit.app import create_service_app


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    return create_service_app(
        service="gateway",
        settings=settings,
        title="PyAirtable Platform gateway",
        routers=[health_router],
    )
