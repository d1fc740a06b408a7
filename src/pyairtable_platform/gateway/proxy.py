"""The reverse proxy: one low-overhead route that checks, limits and streams a request to
core or ai, and streams the answer back.

It is a plain ASGI route (no FastAPI dependency injection, no request/response models):
the gateway's budget is p95 < 100 ms at 1,000 concurrent users on two cores, and every
microsecond here is paid on every API call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from pyairtable_platform.gateway.auth import Authenticator, Identity
from pyairtable_platform.gateway.config import GatewaySettings, Rate
from pyairtable_platform.gateway.ratelimit import Decision, RateLimiter, RateLimiterUnavailable
from pyairtable_platform.gateway.routes import (
    Access,
    Target,
    access_for,
    body_limit_for,
    has_dot_segments,
    match_target,
)
from pyairtable_platform.kit.errors import (
    BadRequest,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    UpstreamError,
    UpstreamTimeout,
)
from pyairtable_platform.kit.observability import outgoing_headers

logger = logging.getLogger(__name__)

# RFC 9110 §7.6.1 hop-by-hop headers, plus those the gateway sets itself.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
    }
)
_DROP_REQUEST = _HOP_BY_HOP | {
    b"host",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-forwarded-port",
    b"forwarded",
    b"x-request-id",
    b"traceparent",
    b"tracestate",
}
# uvicorn writes its own Date; the observability middleware adds X-Request-ID.
_DROP_RESPONSE = _HOP_BY_HOP | {b"date", b"server", b"x-request-id"}
# Headers httpx adds by default that the caller did not send: removed so the upstream
# sees what the caller sent (above all, no Accept-Encoding the caller cannot decode).
_HTTPX_DEFAULTS = ("accept", "accept-encoding", "user-agent")
# Answers up to this size are read whole and sent in one ASGI message.
_SMALL_BODY = 64 * 1024

_WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="pyairtable-platform"'}


class ClientDisconnected(Exception):
    pass


class BodyTooLarge(Exception):
    pass


@dataclass
class Upstreams:
    core: str
    ai: str

    def base(self, target: Target) -> str:
        return self.core if target.upstream == "core" else self.ai


def create_upstream_client(settings: GatewaySettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=settings.upstream_connect_timeout_seconds,
            read=settings.upstream_read_timeout_seconds,
            write=settings.upstream_write_timeout_seconds,
            pool=settings.upstream_pool_timeout_seconds,
        ),
        limits=httpx.Limits(
            max_connections=settings.upstream_max_connections,
            max_keepalive_connections=settings.upstream_max_keepalive,
            keepalive_expiry=30,
        ),
        follow_redirects=False,
        trust_env=False,
    )


class Proxy:
    """Everything a proxied request needs, built once in the gateway's lifespan."""

    def __init__(
        self,
        settings: GatewaySettings,
        client: httpx.AsyncClient,
        authenticator: Authenticator,
        limiter: RateLimiter,
    ) -> None:
        self.settings = settings
        self.client = client
        self.authenticator = authenticator
        self.limiter = limiter
        self.upstreams = Upstreams(settings.core_url.rstrip("/"), settings.ai_url.rstrip("/"))
        self.rates: dict[str, Rate] = {
            "auth": settings.rate_limit_auth,
            "anonymous": settings.rate_limit_anonymous,
            "authenticated": settings.rate_limit_authenticated,
            "sandbox": settings.rate_limit_sandbox,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send, target: Target) -> None:
        path: str = scope["path"]
        if has_dot_segments(path):
            raise BadRequest("paths with '.' or '..' segments are not accepted")
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        access = access_for(path)
        identity = None if access.anonymous else await self._authenticate(headers)
        decision = await self._rate_limit(scope, access, identity)
        limit = body_limit_for(
            path,
            self.settings.upload_paths,
            self.settings.max_body_bytes,
            self.settings.max_upload_body_bytes,
        )
        has_body = _check_declared_length(headers, limit)
        request = self._build_request(scope, target, headers, receive if has_body else None, limit)
        try:
            response = await self.client.send(request, stream=True)
        except BodyTooLarge:
            raise PayloadTooLarge(_too_large(limit)) from None
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(
                f"{target.upstream} did not answer in time ({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            raise UpstreamError(
                f"{target.upstream} is unreachable ({type(exc).__name__})"
            ) from None
        except ClientDisconnected:
            return
        try:
            await self._relay(response, receive, send, decision)
        finally:
            await response.aclose()

    async def _authenticate(self, headers: list[tuple[bytes, bytes]]) -> Identity:
        try:
            return await self.authenticator.authenticate(headers)
        except Unauthorized as exc:
            raise Unauthorized(exc.detail, headers=_WWW_AUTHENTICATE) from None

    async def _rate_limit(
        self, scope: Scope, access: Access, identity: Identity | None
    ) -> Decision | None:
        if not self.settings.rate_limit_enabled:
            return None
        if identity is None:
            client = scope.get("client")
            bucket = f"{access.rate_class}:ip:{client[0] if client else 'unknown'}"
        elif identity.api_key_id is not None:
            bucket = f"{access.rate_class}:key:{identity.api_key_id}"
        else:
            bucket = f"{access.rate_class}:user:{identity.user_id}"
        try:
            decision = await self.limiter.hit(bucket, self.rates[access.rate_class])
        except RateLimiterUnavailable:
            # docs/decisions/0005-gateway.md: fail open, except for the anonymous
            # sign-in endpoints, whose limit is what stands between them and guessing.
            if access.rate_class == "auth":
                raise ServiceUnavailable(
                    "sign-in is briefly unavailable (rate limiter unreachable); retry shortly",
                    headers={"Retry-After": "5"},
                ) from None
            return None
        if not decision.allowed:
            error = RateLimited(
                f"rate limit of {decision.rate.limit} requests per "
                f"{decision.rate.period}s exceeded; retry after the Retry-After seconds",
                retry_after=decision.retry_after,
            )
            error.headers.update({k.decode(): v.decode() for k, v in decision.headers()})
            raise error
        return decision

    def _build_request(
        self,
        scope: Scope,
        target: Target,
        headers: list[tuple[bytes, bytes]],
        receive: Receive | None,
        limit: int,
    ) -> httpx.Request:
        forward: list[tuple[bytes, bytes]] = []
        connection_listed: set[bytes] = set()
        host = b""
        sent_defaults: set[str] = set()
        for name, value in headers:
            if name == b"connection":
                connection_listed.update(t.strip().lower() for t in value.split(b","))
            elif name == b"host":
                host = value
            if name in _DROP_REQUEST:
                continue
            if name in (b"accept", b"accept-encoding", b"user-agent"):
                sent_defaults.add(name.decode())
            forward.append((name, value))
        if connection_listed:
            forward = [(n, v) for n, v in forward if n not in connection_listed]
        client = scope.get("client")
        forward.append((b"x-forwarded-for", (client[0] if client else "unknown").encode()))
        forward.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
        if host:
            forward.append((b"x-forwarded-host", host))
        for key, text in outgoing_headers().items():
            forward.append((key.encode(), text.encode()))

        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        url = self.upstreams.base(target) + raw_path.decode("latin-1")
        query: bytes = scope.get("query_string", b"")
        if query:
            url += "?" + query.decode("latin-1")
        content = _request_body(receive, limit) if receive is not None else None
        request = self.client.build_request(scope["method"], url, headers=forward, content=content)
        for default in _HTTPX_DEFAULTS:
            if default not in sent_defaults:
                del request.headers[default]
        return request

    async def _relay(
        self,
        response: httpx.Response,
        receive: Receive,
        send: Send,
        decision: Decision | None,
    ) -> None:
        out = [(k.lower(), v) for k, v in response.headers.raw if k.lower() not in _DROP_RESPONSE]
        if decision is not None:
            out.extend(decision.headers())
        length = response.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) <= _SMALL_BODY:
            try:
                body = await response.aread()
            except httpx.TransportError as exc:
                raise _map_upstream_error(exc) from None
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": out}
            )
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        await _stream_until_disconnect(response, receive, send)


def _map_upstream_error(exc: httpx.TransportError) -> Exception:
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"upstream stopped answering ({type(exc).__name__})")
    return UpstreamError(f"upstream failed mid-answer ({type(exc).__name__})")


async def _stream_until_disconnect(response: httpx.Response, receive: Receive, send: Send) -> None:
    """Pump the upstream body to the client; stop (and close the upstream) as soon as the
    client goes away, or a finished SSE consumer would leave an LLM stream running."""

    async def pump() -> None:
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def watch() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    pump_task = asyncio.ensure_future(pump())
    watch_task = asyncio.ensure_future(watch())
    try:
        done, _ = await asyncio.wait({pump_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump_task, watch_task):
            if not task.done():
                task.cancel()
        await asyncio.gather(pump_task, watch_task, return_exceptions=True)
    if pump_task in done and (error := pump_task.exception()) is not None:
        # The status line is already out; all we can do is cut the connection short.
        logger.warning("upstream stream failed: %s: %s", type(error).__name__, error)


def _too_large(limit: int) -> str:
    return f"request body exceeds this endpoint's limit of {limit} bytes"


def _check_declared_length(headers: list[tuple[bytes, bytes]], limit: int) -> bool:
    """413 up front when Content-Length says too much; tells whether a body follows."""
    has_body = False
    for name, value in headers:
        if name == b"content-length":
            if not value.strip().isdigit():
                raise BadRequest("Content-Length must be a non-negative integer")
            length = int(value)
            if length > limit:
                raise PayloadTooLarge(_too_large(limit))
            has_body = has_body or length > 0
        elif name == b"transfer-encoding":
            has_body = True
    return has_body


async def _request_body(receive: Receive, limit: int) -> AsyncIterator[bytes]:
    """The caller's body as it arrives, counted so a chunked upload cannot pass the limit."""
    received = 0
    while True:
        message: dict[str, Any] = dict(await receive())
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk: bytes = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


class ProxyRoute(BaseRoute):
    """Matches every path of the proxy table; placed first so API calls skip the rest."""

    def __init__(self) -> None:
        self._labels: dict[str, _RouteLabel] = {}

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        target = match_target(scope["path"])
        if target is None:
            return Match.NONE, {}
        label = self._labels.get(target.label)
        if label is None:
            label = self._labels[target.label] = _RouteLabel(
                f"{target.label}/* -> {target.upstream}"
            )
        return Match.FULL, {"route": label, "pap.target": target}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        proxy: Proxy = scope["app"].state.proxy
        await proxy(scope, receive, send, scope["pap.target"])


@dataclass(frozen=True)
class _RouteLabel:
    """What the metrics middleware reads as the route template of a proxied request."""

    path: str
