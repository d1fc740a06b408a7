"""The ai service's long-lived objects, created in the app lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.ai.chat.mcp import McpConnector
from pyairtable_platform.ai.chat.runner import TurnRunner
from pyairtable_platform.ai.config import AiSettings
from pyairtable_platform.ai.costs.pricing import PriceTable
from pyairtable_platform.ai.providers.exceptions import LlmNotConfigured
from pyairtable_platform.ai.providers.service import ModelCache, deployment_config
from pyairtable_platform.kit.app import Resources
from pyairtable_platform.kit.auth import JWKSCache
from pyairtable_platform.kit.crypto import SecretBox

logger = logging.getLogger(__name__)

# Young collections after 50,000 net allocations (default 700); older generations as rarely.
GC_THRESHOLDS = (50_000, 20, 100)


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


def warm_up(state: AiState) -> None:
    """Build the deployment's model now, not in the first turn: it imports the provider's SDK
    (seconds of CPU, which a burst of first turns in a fresh worker would queue behind), and
    what is built before the app starts is frozen out of the collector's scans with the rest
    (``gc.freeze`` in :func:`~pyairtable_platform.kit.app.create_service_app`)."""
    try:
        config = deployment_config(state.settings)
    except LlmNotConfigured:
        return  # a misconfiguration: every turn says so (503), nothing to warm
    if config is None:
        return
    try:
        state.models.get(config, config.model)
    except Exception:  # the first turn builds it again and reports the error where it's seen
        logger.warning("could not build the %s model at start", config.provider, exc_info=True)


def release_freed_memory() -> None:
    """Hand the heap freed during start-up back to the OS (glibc keeps it otherwise): the
    imports and the warm-up leave ~15 MB of free heap that would stay in the RSS for good."""
    # Not glibc (e.g. musl): nothing to trim this way.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


class IdleTrim:
    """Hands the heap freed by a burst of turns back to the OS once the turns are over.

    A burst of 100 turns at once leaves ~4 MB of free heap that glibc keeps for good (the rest
    of what a burst leaves is free space inside CPython's own arenas, which only the
    interpreter can return, a whole arena at a time). ``malloc_trim`` walks the heap (well
    under a millisecond here, but it holds the event loop), so it runs ``delay`` seconds after
    the last turn ends, if none started since, and at most once per ``min_interval``: turns
    one after another do not trim each.
    """

    def __init__(
        self,
        running: Callable[[], int],
        *,
        delay: float = 2.0,
        min_interval: float = 10.0,
        release: Callable[[], None] = release_freed_memory,
    ) -> None:
        self._running = running
        self._delay = delay
        self._min_interval = min_interval
        self._release = release
        self._last: float | None = None
        self._pending: asyncio.TimerHandle | None = None

    def __call__(self) -> None:
        """The last running turn has ended."""
        if self._pending is None:
            self._schedule(self._delay)

    def _schedule(self, delay: float) -> None:
        self._pending = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._pending = None
        if self._running():
            return  # a new turn started: trimmed when it and its companions end
        now = time.monotonic()
        if self._last is not None and now - self._last < self._min_interval:
            self._schedule(self._last + self._min_interval - now)
            return
        self._last = now
        self._release()

    @property
    def due(self) -> bool:
        """A trim is scheduled."""
        return self._pending is not None

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None


def ai_extension(settings: AiSettings, shutdown_grace_seconds: float = 30.0):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def extension(app: FastAPI, resources: Resources) -> AsyncIterator[None]:
        runner = TurnRunner()
        idle_trim = runner.on_idle = IdleTrim(lambda: runner.running)
        state = AiState(
            settings=settings,
            resources=resources,
            jwks=JWKSCache(resources.http, settings.core_url),
            box=settings.secret_box(),
            prices=PriceTable(settings.model_prices),
            models=ModelCache(settings),
            runner=runner,
            mcp=McpConnector(settings.resolved_mcp_url, timeout=settings.provider_timeout_seconds),
        )
        app.state.ai = state
        warm_up(state)
        release_freed_memory()
        # A turn allocates many short-lived objects (pydantic-ai's graph, SDK models, events)
        # and most die young; with the default threshold (700) young collections kept
        # rescanning the survivors of the other turns in flight. Raised, the ai service's CPU
        # per turn at 100 turns at once fell from 60-67 to 55 ms (bench/chat.py).
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            yield
        finally:
            await state.runner.drain(shutdown_grace_seconds)
            idle_trim.cancel()
            await state.mcp.aclose()

    return extension
