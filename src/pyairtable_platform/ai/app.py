"""The AI service (port 8002): chat over the platform's MCP tools, costs and budgets."""

from __future__ import annotations

from fastapi import FastAPI

from pyairtable_platform.ai.analysis.router import router as analysis_router
from pyairtable_platform.ai.budgets.router import router as budgets_router
from pyairtable_platform.ai.chat.router import router as chat_router
from pyairtable_platform.ai.config import AiSettings
from pyairtable_platform.ai.costs.router import router as usage_router
from pyairtable_platform.ai.providers.router import router as provider_router
from pyairtable_platform.ai.sessions.router import router as sessions_router
from pyairtable_platform.ai.state import ai_extension
from pyairtable_platform.kit.app import create_service_app


def create_app(settings: AiSettings | None = None) -> FastAPI:
    settings = settings or AiSettings()
    return create_service_app(
        service="ai",
        settings=settings,
        title="PyAirtable Platform AI",
        routers=[
            sessions_router,
            chat_router,
            provider_router,
            budgets_router,
            usage_router,
            analysis_router,
        ],
        extensions=[ai_extension(settings)],
    )
