"""The AI service (port 8002): chat over the platform's MCP tools, costs and budgets."""

from __future__ import annotations

from fastapi import FastAPI

from pyairtable_platform.ai.config import AiSettings
from pyairtable_platform.kit.app import create_service_app


def create_app(settings: AiSettings | None = None) -> FastAPI:
    settings = settings or AiSettings()
    return create_service_app(
        service="ai",
        settings=settings,
        title="PyAirtable Platform AI",
        routers=[],
    )
