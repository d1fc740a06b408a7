"""The ai service's long-lived objects, created in the app lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.ai.chat.mcp import McpConnector
from pyairtable_platform.ai.chat.runner import TurnRunner
from pyairtable_platform.ai.config import AiSettings
from pyairtable_platform.ai.costs.pricing import PriceTable
from pyairtable_platform.ai.providers.service import ModelCache
from pyairtable_platform.kit.app import Resources
from pyairtable_platform.kit.auth import JWKSCache
from pyairtable_platform.kit.crypto import SecretBox


@dataclass
class AiState:
    settings: AiSettings
    resources: Resources
    jwks: JWKSCache
    box: SecretBox
    prices: PriceTable
    models: ModelCache
    runner: TurnRunner
    mcp: McpConnector

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        factory = self.resources.session_factory
        assert factory is not None, "the ai service always has a database"
        return factory


def ai_extension(settings: AiSettings, shutdown_grace_seconds: float = 30.0):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def extension(app: FastAPI, resources: Resources) -> AsyncIterator[None]:
        state = AiState(
            settings=settings,
            resources=resources,
            jwks=JWKSCache(resources.http, settings.core_url),
            box=settings.secret_box(),
            prices=PriceTable(settings.model_prices),
            models=ModelCache(settings),
            runner=TurnRunner(),
            mcp=McpConnector(settings.resolved_mcp_url, timeout=settings.provider_timeout_seconds),
        )
        app.state.ai = state
        try:
            yield
        finally:
            await state.runner.drain(shutdown_grace_seconds)
            await state.mcp.aclose()

    return extension
