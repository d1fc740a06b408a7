"""What Airtable access shares across requests, built once in core's lifespan.

- one :class:`RateLimiter` (the limits live in Redis; the object is just the scripts);
- a :class:`ClientRegistry`: one :class:`AirtableClient` (thread pool, cache namespace) per
  connection and token, reused by every request, MCP call and job of this process, each
  recording one ``api_usage_logs`` row per upstream request;
- the mirror's settings and the job queue (set by the jobs extension).

Handlers reach it as ``request.app.state.airtable`` (:func:`get_airtable_deps`); the MCP
server and jobs through ``resources.extras["airtable"]``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.core.airtable.client import (
    AirtableClient,
    AirtableConnection,
    UpstreamCall,
)
from pyairtable_platform.core.airtable.config import AirtableSettings
from pyairtable_platform.core.airtable.ratelimit import RateLimiter, token_fingerprint
from pyairtable_platform.core.airtable.repository import insert_usage
from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.core.mirror.config import MirrorSettings
from pyairtable_platform.kit.app import Resources
from pyairtable_platform.kit.crypto import SecretBox
from pyairtable_platform.kit.db import unit_of_work

logger = logging.getLogger(__name__)

# Clients kept per process; each holds a small thread pool, so the least recently used
# beyond this are closed.
MAX_CLIENTS = 64


class AccessSettings(BaseSettings):
    """Where core reaches its own sandbox (``CORE_SANDBOX_ENDPOINT_URL``, else
    ``CORE_URL`` + ``/sandbox``, else this process's host and port)."""

    model_config = SettingsConfigDict(extra="ignore")

    sandbox_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CORE_SANDBOX_ENDPOINT_URL")
    )
    core_url: str | None = Field(default=None, validation_alias=AliasChoices("CORE_URL"))


def sandbox_endpoint(settings: CoreSettings, access: AccessSettings | None = None) -> str:
    access = access or AccessSettings()
    if access.sandbox_endpoint_url:
        return access.sandbox_endpoint_url.rstrip("/")
    if access.core_url:
        return access.core_url.rstrip("/") + "/sandbox"
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    return f"http://{host}:{settings.port}/sandbox"


class ClientRegistry:
    def __init__(
        self,
        redis: Redis,
        settings: AirtableSettings,
        limiter: RateLimiter,
        factory: async_sessionmaker[AsyncSession],
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.limiter = limiter
        self.factory = factory
        self._clients: OrderedDict[tuple[str, str, str], AirtableClient] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, connection: AirtableConnection) -> AirtableClient:
        """The client of a connection; a rotated token gets a new client."""
        key = (
            connection.connection_id,
            token_fingerprint(connection.token),
            connection.endpoint_url,
        )
        async with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
            client = AirtableClient(
                self.redis,
                self.settings,
                connection,
                limiter=self.limiter,
                on_upstream_call=self._recorder(connection),
            )
            self._clients[key] = client
            while len(self._clients) > MAX_CLIENTS:
                _, old = self._clients.popitem(last=False)
                await old.aclose()
            return client

    async def forget(self, connection_id: str) -> None:
        async with self._lock:
            for key in [k for k in self._clients if k[0] == connection_id]:
                await self._clients.pop(key).aclose()

    def _recorder(self, connection: AirtableConnection) -> Any:
        workspace_id = connection.workspace_id

        async def record(call: UpstreamCall) -> None:
            if workspace_id is None:
                return
            async with unit_of_work(self.factory, workspace_id=workspace_id) as session:
                await insert_usage(
                    session,
                    workspace_id=workspace_id,
                    user_id=call.user_id,
                    operation=call.operation,
                    status_code=call.status,
                    latency_ms=round(call.latency_s * 1000),
                    success=call.status is not None and call.status < 400,
                    error=call.error,
                    metadata={
                        "base_id": call.base_id,
                        "connection_id": call.connection_id,
                        "method": call.method,
                        "attempt": call.attempt,
                    },
                )

        return record

    async def aclose(self) -> None:
        async with self._lock:
            while self._clients:
                _, client = self._clients.popitem()
                await client.aclose()


@dataclass
class AirtableDeps:
    settings: CoreSettings
    airtable: AirtableSettings
    mirror: MirrorSettings
    redis: Redis
    factory: async_sessionmaker[AsyncSession]
    limiter: RateLimiter
    secrets: SecretBox
    clients: ClientRegistry
    sandbox_endpoint: str
    jobs: Any = None  # procrastinate.App, set by core.jobs.jobs_extension
    extras: dict[str, Any] = field(default_factory=dict)


def build_airtable_deps(settings: CoreSettings, resources: Resources) -> AirtableDeps:
    assert resources.session_factory is not None, "core always has a database"
    airtable = AirtableSettings()
    limiter = RateLimiter(
        resources.redis,
        per_base=airtable.rate_per_base,
        per_token=airtable.rate_per_token,
        window_ms=1000 + airtable.window_margin_ms,
        max_wait_seconds=airtable.max_wait_seconds,
        pause_seconds=airtable.pause_seconds,
    )
    return AirtableDeps(
        settings=settings,
        airtable=airtable,
        mirror=MirrorSettings(),
        redis=resources.redis,
        factory=resources.session_factory,
        limiter=limiter,
        secrets=settings.secret_box(),
        clients=ClientRegistry(resources.redis, airtable, limiter, resources.session_factory),
        sandbox_endpoint=sandbox_endpoint(settings),
    )


@asynccontextmanager
async def airtable_extension(app: FastAPI, resources: Resources) -> AsyncIterator[None]:
    settings = resources.settings
    assert isinstance(settings, CoreSettings)
    deps = build_airtable_deps(settings, resources)
    resources.extras["airtable"] = deps
    app.state.airtable = deps
    try:
        yield
    finally:
        await deps.clients.aclose()


def get_airtable_deps(request: Request) -> AirtableDeps:
    deps: AirtableDeps = request.app.state.airtable
    return deps


AirtableDepsDep = Annotated[AirtableDeps, Depends(get_airtable_deps)]


def worker_deps(context: Any) -> AirtableDeps:
    """The shared Airtable dependencies a job worker passes to every job (its
    ``additional_context["airtable"]``, see ``core/jobs.py``)."""
    deps = context.additional_context.get("airtable")
    if not isinstance(deps, AirtableDeps):
        raise RuntimeError("the worker was started without the Airtable dependencies")
    return deps
