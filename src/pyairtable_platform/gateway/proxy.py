"""The reverse proxy: one low-overhead route that checks, limits and streams a request to
core or ai, and streams the answer back.

It is a plain ASGI route (no FastAPI dependency injection, no request/response models):
the gateway's budget is p95 < 100 ms at 1,000 concurrent users on two cores, and every
microsecond here is paid on every API call. The upstream client is aiohttp rather than
httpx: httpx/httpcore cost several times the CPU per proxied request, and its pool scans
every connection on every request (docs/decisions/0005-gateway.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send
from yarl import URL

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
# Headers aiohttp would add on the caller's behalf: the upstream must see what the caller
# sent (above all, no Accept-Encoding the caller cannot decode).
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
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


def create_upstream_client(settings: GatewaySettings) -> aiohttp.ClientSession:
    """Must be called inside the running event loop (the gateway's lifespan)."""
    connector = aiohttp.TCPConnector(
        limit=settings.upstream_max_connections,
        keepalive_timeout=30,
        ttl_dns_cache=300,
    )
    timeout = aiohttp.ClientTimeout(
        total=None,
        # Waiting for a pooled connection plus establishing a new one.
        connect=settings.upstream_pool_timeout_seconds + settings.upstream_connect_timeout_seconds,
        sock_connect=settings.upstream_connect_timeout_seconds,
        sock_read=settings.upstream_read_timeout_seconds,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=False,
        skip_auto_headers=_NO_AUTO_HEADERS,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


@dataclass
class _BodyState:
    """What happened to the caller's body while aiohttp sent it upstream (aiohttp wraps
    exceptions raised by the body iterator, so the iterator records them here)."""

    too_large: bool = False
    disconnected: bool = False


class Proxy:
    """Everything a proxied request needs, built once in the gateway's lifespan."""

    def __init__(
        self,
        settings: GatewaySettings,
        client: aiohttp.ClientSession,
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
        state = _BodyState()
        try:
            response = await self.client.request(
                scope["method"],
                self._url(scope, target),
                headers=_forward_headers(scope, headers),
                data=_request_body(receive, limit, state) if has_body else None,
                allow_redirects=False,
                compress=None,
            )
        except (aiohttp.ClientError, TimeoutError, ClientDisconnected, BodyTooLarge) as exc:
            if state.too_large:
                raise PayloadTooLarge(_too_large(limit)) from None
            if state.disconnected:
                return
            raise _upstream_error(target, exc) from None
        try:
            await self._relay(response, receive, send, decision, target)
        finally:
            response.release()

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

    def _url(self, scope: Scope, target: Target) -> URL:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        url = self.upstreams.base(target) + raw_path.decode("latin-1")
        query: bytes = scope.get("query_string", b"")
        if query:
            url += "?" + query.decode("latin-1")
        # encoded=True: forward the caller's percent-encoding byte for byte.
        return URL(url, encoded=True)

    async def _relay(
        self,
        response: aiohttp.ClientResponse,
        receive: Receive,
        send: Send,
        decision: Decision | None,
        target: Target,
    ) -> None:
        out = [
            (name.lower(), value)
            for name, value in response.raw_headers
            if name.lower() not in _DROP_RESPONSE
        ]
        if decision is not None:
            out.extend(decision.headers())
        length = response.content_length
        start = {"type": "http.response.start", "status": response.status, "headers": out}
        if length is not None and length <= _SMALL_BODY:
            try:
                body = await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _upstream_error(target, exc) from None
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await send(start)
        await _stream_until_disconnect(response, receive, send)


def _forward_headers(scope: Scope, headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    forward: list[tuple[str, str]] = []
    connection_listed: set[str] = set()
    host = ""
    for raw_name, raw_value in headers:
        if raw_name == b"connection":
            connection_listed.update(
                t.strip().lower() for t in raw_value.decode("latin-1").split(",")
            )
        elif raw_name == b"host":
            host = raw_value.decode("latin-1")
        if raw_name not in _DROP_REQUEST:
            forward.append((raw_name.decode("latin-1"), raw_value.decode("latin-1")))
    if connection_listed:
        forward = [(n, v) for n, v in forward if n not in connection_listed]
    client = scope.get("client")
    forward.append(("x-forwarded-for", client[0] if client else "unknown"))
    forward.append(("x-forwarded-proto", scope.get("scheme", "http")))
    if host:
        forward.append(("x-forwarded-host", host))
    forward.extend(outgoing_headers().items())
    return forward


def _upstream_error(target: Target, exc: BaseException) -> Exception:
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts subclass it
        return UpstreamTimeout(f"{target.upstream} did not answer in time ({type(exc).__name__})")
    return UpstreamError(f"{target.upstream} is unreachable ({type(exc).__name__})")


async def _stream_until_disconnect(
    response: aiohttp.ClientResponse, receive: Receive, send: Send
) -> None:
    """Pump the upstream body to the client; stop (and close the upstream) as soon as the
    client goes away, or a finished SSE consumer would leave an LLM stream running."""

    async def pump() -> None:
        async for chunk in response.content.iter_any():
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
    if watch_task in done:
        response.close()  # the caller left: never pool a half-read connection
    elif (error := pump_task.exception()) is not None:
        # The status line is already out; all we can do is cut the connection short.
        response.close()
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


async def _request_body(receive: Receive, limit: int, state: _BodyState) -> AsyncIterator[bytes]:
    """The caller's body as it arrives, counted so a chunked upload cannot pass the limit."""
    received = 0
    while True:
        message: dict[str, Any] = dict(await receive())
        if message["type"] == "http.disconnect":
            state.disconnected = True
            raise ClientDisconnected
        chunk: bytes = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            state.too_large = True
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
