"""The sandbox Airtable: an ASGI app that core mounts at ``/sandbox``.

Its routes follow Airtable's Web API (``/v0/...``) and answer in Airtable's error shapes.
An outer ASGI layer refuses over-long URLs and applies injected faults before routing;
dropping a connection needs that level, below FastAPI's error handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.kit.app import Resources
from pyairtable_platform.kit.responses import JSONResponse

from . import limits
from .exceptions import AirtableError, invalid_request
from .meta_router import faults_router
from .meta_router import router as meta_router
from .router import router as records_router
from .tokens import hash_token

logger = logging.getLogger(__name__)

MAX_URL_LENGTH = 16_000
_BASE_IN_PATH = re.compile(r"^/v0/(?:meta/bases/)?(app[A-Za-z0-9]{14})(?:/|$)")


def _install_error_handlers(app: FastAPI) -> None:
    async def airtable_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AirtableError)
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        error = invalid_request()
        return JSONResponse(error.body(), status_code=error.status_code)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return JSONResponse({"error": "NOT_FOUND"}, status_code=404)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("sandbox request failed", exc_info=exc)
        body = {"error": {"type": "SERVER_ERROR", "message": "An unexpected error occurred"}}
        return JSONResponse(body, status_code=500)

    app.add_exception_handler(AirtableError, airtable_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


class SandboxApp:
    """URL length and fault injection around the FastAPI app."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    @property
    def state(self) -> Any:
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        query: bytes = scope.get("query_string", b"")
        url_length = len("https://api.airtable.com") + len(path) + len(query) + 1
        if url_length > MAX_URL_LENGTH:
            error = AirtableError(
                414,
                "URL_TOO_LONG",
                f"Request URLs are limited to {MAX_URL_LENGTH} characters; use POST "
                ".../listRecords with the options in the body",
            )
            await JSONResponse(error.body(), status_code=414)(scope, receive, send)
            return
        if self.app.state.faults_enabled and not path.startswith("/_faults"):
            outcome = await self._fault(scope, path, send)
            if outcome == "dropped":
                return
            if isinstance(outcome, AirtableError):
                await JSONResponse(outcome.body(), status_code=outcome.status_code)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)

    async def _fault(self, scope: Scope, path: str, send: Send) -> AirtableError | str | None:
        resources: Resources | None = getattr(self.app.state, "resources", None)
        if resources is None:
            return None
        headers = dict(scope.get("headers") or [])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        keys = []
        if scheme.lower() == "bearer" and token.strip():
            keys.append(limits.fault_key("token", hash_token(token.strip())))
        match = _BASE_IN_PATH.match(path)
        if match:
            keys.append(limits.fault_key("base", match.group(1)))
        for key in keys:
            fault = await limits.get_fault(resources.redis, key)
            if fault is None:
                continue
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if await limits.claim(resources.redis, key, fault):
                if fault.drop:
                    await _drop_connection(send)
                    return "dropped"
                assert fault.status is not None
                return limits.fault_error(fault.status)
        return None


class _DroppedConnection(Exception):
    """Raised to make the server close the connection without a complete response."""


async def _drop_connection(send: Send) -> None:
    # ASGI has no "close the socket" message. uvicorn validates header values after marking
    # the response started and before writing anything, so an invalid header aborts the
    # response unwritten and the server closes the connection: the client sees it drop.
    with contextlib.suppress(RuntimeError):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-drop", b"\n")]})
    raise _DroppedConnection("fault injection: dropped connection")


def create_sandbox_app(settings: CoreSettings) -> SandboxApp:
    app = FastAPI(
        title="Sandbox Airtable",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.rate_limits = limits.RateLimits(
        enabled=settings.sandbox_rate_limit_enabled,
        per_base=settings.sandbox_rate_limit_per_base,
        per_token=settings.sandbox_rate_limit_per_token,
        penalty_seconds=settings.sandbox_rate_limit_penalty_seconds,
    )
    app.state.faults_enabled = settings.sandbox_faults_enabled
    _install_error_handlers(app)
    app.include_router(meta_router)
    app.include_router(faults_router)
    app.include_router(records_router)
    return SandboxApp(app)


def sandbox_extension(sandbox: SandboxApp) -> Any:
    """A core lifespan extension handing the sandbox the database and Redis of core."""

    @asynccontextmanager
    async def extension(_: FastAPI, resources: Resources) -> AsyncIterator[None]:
        sandbox.app.state.resources = resources
        yield

    return extension
