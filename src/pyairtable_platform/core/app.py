"""The core platform service (port 8001): accounts, Airtable access, MCP, files, workflows."""

from __future__ import annotations

from fastapi import FastAPI

from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.kit.app import create_service_app


def create_app(settings: CoreSettings | None = None) -> FastAPI:
    settings = settings or CoreSettings()
    return create_service_app(
        service="core",
        settings=settings,
        title="PyAirtable Platform core",
        routers=[],
    )
