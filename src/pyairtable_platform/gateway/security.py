"""Security headers on every response the gateway sends, as one pure ASGI middleware."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pyairtable_platform.gateway.config import GatewaySettings


class SecurityHeadersMiddleware:
    """Adds the headers a response lacks; an upstream that sets its own wins.

    HTML (the frontend, the API reference) gets the page CSP; everything else the API CSP,
    which allows nothing at all. HSTS only over TLS — ``scope["scheme"]`` is ``https``
    when the connection was TLS or a trusted proxy said so (uvicorn's proxy headers,
    ``FORWARDED_ALLOW_IPS``) — because over plain HTTP it is ignored or, behind a
    misconfigured proxy, could lock users out.
    """

    def __init__(self, app: ASGIApp, settings: GatewaySettings) -> None:
        self.app = app
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        self.common = common
        self.page_csp = settings.content_security_policy.encode()
        self.api_csp = settings.api_content_security_policy.encode()
        self.hsts = f"max-age={settings.hsts_max_age_seconds}; includeSubDomains".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                html = any(
                    name.lower() == b"content-type" and value.startswith(b"text/html")
                    for name, value in headers
                )
                for name, value in self.common:
                    if name not in present:
                        headers.append((name, value))
                if b"content-security-policy" not in present:
                    headers.append(
                        (b"content-security-policy", self.page_csp if html else self.api_csp)
                    )
                if tls and b"strict-transport-security" not in present:
                    headers.append((b"strict-transport-security", self.hsts))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class OriginCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, stepped around for requests without ``Origin``.

    Scripts, MCP clients and services send no ``Origin``; for them CORS only ever adds
    ``Vary: Origin``, which is done here without parsing every header into a ``Headers``
    object twice per request (docs/decisions/0005-gateway.md, hot path).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(name == b"origin" for name, _ in scope["headers"]):
            await super().__call__(scope, receive, send)
            return

        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = []
                vary: list[bytes] = []
                for name, value in message.get("headers", []):
                    if name.lower() == b"vary":
                        vary.append(value)
                    else:
                        headers.append((name, value))
                headers.append((b"vary", b", ".join([*vary, b"Origin"])))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_vary)
