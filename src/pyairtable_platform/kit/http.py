"""Outgoing HTTP: one pooled client per service that propagates request id and traceparent."""

from __future__ import annotations

import httpx

from pyairtable_platform.kit.observability import outgoing_headers


async def _propagate(request: httpx.Request) -> None:
    for key, value in outgoing_headers().items():
        request.headers.setdefault(key, value)


def create_http_client(
    *,
    timeout: float = 10.0,
    max_connections: int = 200,
    base_url: str = "",
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=3.0),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=100),
        event_hooks={"request": [_propagate]},
        follow_redirects=False,
    )
