"""Fixtures for the gateway: stand-in upstreams (real HTTP servers), a signing key whose
JWKS the stand-in core publishes, and a factory for gateways in front of them."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pyairtable_platform.gateway.app import create_app
from pyairtable_platform.gateway.config import GatewaySettings
from tests.conftest import Infra
from tests.support.servers import ThreadServer

GENEROUS = "100000/minute"
WAIT = 10.0


@dataclass
class Signer:
    """An Ed25519 key like core's: tokens signed here verify against the stand-in JWKS."""

    kid: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:8]}")
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def jwks(self) -> dict[str, Any]:
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.kid, "alg": "EdDSA"}
        return {"keys": [jwk | {"use": "sig"}]}

    def token(self, user_id: uuid.UUID | None = None, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "pyairtable-platform",
            "aud": "pyairtable-platform",
            "sub": str(user_id or uuid.uuid4()),
            "wid": str(uuid.uuid4()),
            "role": "member",
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 900,
            "typ": "access",
        } | overrides
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.kid})


class Upstream:
    """A stand-in for core or ai: echoes what it received, streams, stalls on request."""

    def __init__(self, name: str, signer: Signer) -> None:
        self.name = name
        self.signer = signer
        self.release = threading.Event()
        self.api_keys: dict[str, dict[str, Any]] = {}
        self.whoami_calls = 0
        self.app = Starlette(
            routes=[
                Route("/.well-known/jwks.json", self.jwks),
                Route("/api/v1/auth/whoami", self.whoami),
                Route("/api/v1/stream/chunks", self.chunks),
                Route("/api/v1/chat/sse", self.sse, methods=["GET", "POST"]),
                Route("/api/v1/slow", self.slow),
                Route("/openapi.json", self.openapi),
                Route(
                    "/{path:path}",
                    self.echo,
                    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                ),
            ]
        )

    async def jwks(self, _: Request) -> JSONResponse:
        return JSONResponse(self.signer.jwks())

    async def whoami(self, request: Request) -> JSONResponse:
        self.whoami_calls += 1
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        identity = self.api_keys.get(key)
        if identity is None:
            return JSONResponse({"error": "unauthorized", "detail": "invalid API key"}, 401)
        return JSONResponse(identity)

    async def echo(self, request: Request) -> JSONResponse:
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        return JSONResponse(
            {
                "service": self.name,
                "method": request.method,
                "path": request.url.path,
                "raw_path": request.scope["raw_path"].decode("latin-1"),
                "query": request.scope["query_string"].decode("latin-1"),
                "query_items": list(request.query_params.multi_items()),
                "headers": [
                    [k.decode("latin-1"), v.decode("latin-1")] for k, v in request.headers.raw
                ],
                "body_size": size,
                "body_sha256": digest.hexdigest(),
            },
            headers={"x-upstream": self.name, "connection": "keep-alive, x-secret-hop"},
        )

    async def chunks(self, request: Request) -> StreamingResponse:
        count = int(request.query_params.get("n", "5"))
        size = int(request.query_params.get("size", "100000"))

        async def body() -> AsyncIterator[bytes]:
            for index in range(count):
                yield bytes([65 + index % 26]) * size

        return StreamingResponse(body(), media_type="application/octet-stream")

    async def sse(self, _: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            yield b"event: first\ndata: hello\n\n"
            # The rest only after the test saw the first event through the gateway.
            released = await anyio.to_thread.run_sync(self.release.wait, WAIT)
            yield b"event: second\ndata: " + (b"released" if released else b"timeout") + b"\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def slow(self, _: Request) -> Response:
        await anyio.to_thread.run_sync(self.release.wait, WAIT)
        return Response(b"late")

    async def openapi(self, _: Request) -> JSONResponse:
        prefix = "/api/v1/chat" if self.name == "ai" else "/api/v1/things"
        shared = {"type": "object", "properties": {self.name: {"type": "string"}}}
        return JSONResponse(
            {
                "openapi": "3.1.0",
                "info": {"title": self.name, "version": "1"},
                "paths": {
                    prefix: {
                        "get": {
                            "summary": f"{self.name} thing",
                            "responses": {
                                "200": {
                                    "description": "ok",
                                    "content": {
                                        "application/json": {
                                            "schema": {"$ref": "#/components/schemas/Thing"}
                                        }
                                    },
                                }
                            },
                        }
                    },
                    # Not routed to this service by the gateway: must not be listed.
                    ("/api/v1/things" if self.name == "ai" else "/api/v1/chat"): {
                        "get": {"responses": {"200": {"description": "wrong service"}}}
                    },
                    "/api/v1/auth/login": {"post": {"responses": {"200": {"description": "ok"}}}}
                    if self.name == "core"
                    else {},
                },
                "components": {"schemas": {"Thing": shared}},
            }
        )


@dataclass
class Upstreams:
    core: Upstream
    ai: Upstream
    core_server: ThreadServer
    ai_server: ThreadServer


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer()


@pytest.fixture(scope="session")
def upstreams(signer: Signer) -> Iterator[Upstreams]:
    core, ai = Upstream("core", signer), Upstream("ai", signer)
    with ThreadServer(core.app) as core_server, ThreadServer(ai.app) as ai_server:
        yield Upstreams(core, ai, core_server, ai_server)


@pytest.fixture
def released(upstreams: Upstreams) -> Iterator[None]:
    """Stalled upstream handlers are always let go at the end of a test."""
    for upstream in (upstreams.core, upstreams.ai):
        upstream.release.clear()
    yield
    for upstream in (upstreams.core, upstreams.ai):
        upstream.release.set()


@pytest.fixture
def make_gateway(infra: Infra, upstreams: Upstreams) -> Iterator[Any]:
    """Start a gateway in front of the stand-ins; keyword arguments override settings."""
    servers: list[ThreadServer] = []

    def build(**overrides: Any) -> ThreadServer:
        values: dict[str, Any] = {
            "core_url": upstreams.core_server.url,
            "ai_url": upstreams.ai_server.url,
            "redis_url": infra.redis_url,
            "log_level": "CRITICAL",
            "log_requests": False,
            "rate_limit_anonymous": GENEROUS,
            "rate_limit_authenticated": GENEROUS,
            "rate_limit_auth": GENEROUS,
            "rate_limit_sandbox": GENEROUS,
        } | overrides
        server = ThreadServer(create_app(GatewaySettings(**values))).start()
        servers.append(server)
        return server

    yield build
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def module_gateway(infra: Infra, upstreams: Upstreams) -> Iterator[ThreadServer]:
    """One default gateway shared by a module's tests (starting one costs ~100 ms)."""
    settings = GatewaySettings(
        core_url=upstreams.core_server.url,
        ai_url=upstreams.ai_server.url,
        redis_url=infra.redis_url,
        log_level="CRITICAL",
        log_requests=False,
        rate_limit_anonymous=GENEROUS,
        rate_limit_authenticated=GENEROUS,
        rate_limit_auth=GENEROUS,
        rate_limit_sandbox=GENEROUS,
        upload_paths=["/api/v1/files"],
        max_body_bytes=1024 * 1024,
        max_upload_body_bytes=8 * 1024 * 1024,
    )
    with ThreadServer(create_app(settings)) as server:
        yield server
