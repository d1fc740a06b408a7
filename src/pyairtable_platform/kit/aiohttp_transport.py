"""An httpx2 transport that sends requests with aiohttp.

The OpenAI SDK and the MCP client speak httpx2; under it, httpcore2 + h11 + anyio cost ~650 µs
of CPU per streamed request on this project's machine, aiohttp with its C parser ~150 µs
(the gateway chose aiohttp for the same reason: docs/decisions/0005-gateway.md). A chat turn
makes five such requests (three LLM calls, two MCP tool calls), so the ai service sends them
through this transport; the SDKs above it see ordinary httpx2 requests and responses.

What httpx2 does itself stays with httpx2: redirects (never followed here), authentication,
cookies, and decoding ``Content-Encoding`` (the body is passed on as received). Timeouts come
from each request's ``timeout`` extension, so a per-request timeout still applies. aiohttp's
errors are raised as the httpx2 errors the SDKs handle (connect and read timeouts, connection
failures, a peer that closes mid-answer), so their retries and error messages are unchanged.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import aiohttp
import httpx2
import yarl

# Computed by aiohttp from the body; forwarding httpx2's copies would duplicate them. (Host is
# forwarded: aiohttp replaces its own with it, so a caller's Host header is kept.)
_COMPUTED = frozenset({"content-length", "transfer-encoding"})
# Never added by aiohttp on the caller's behalf: the request carries what httpx2 built.
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


class _Body(httpx2.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx2.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx2.ReadTimeout(str(exc) or "read timed out", request=self._request) from exc
        except aiohttp.ClientPayloadError as exc:
            raise httpx2.RemoteProtocolError(str(exc), request=self._request) from exc
        except aiohttp.ClientError as exc:
            raise httpx2.ReadError(str(exc), request=self._request) from exc

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx2.AsyncBaseTransport):
    """One aiohttp session (and its connection pool), opened on the first request.

    Idle connections are kept 4 s by default, like httpx's 5 s just under common servers' own
    keep-alive (uvicorn: 5 s): a request written into a connection the server is closing fails
    with nothing sent back, and aiohttp does not resend it."""

    def __init__(
        self, *, max_connections: int = 256, keepalive_seconds: float = 4.0, trust_env: bool = True
    ) -> None:
        self._max_connections = max_connections
        self._keepalive = keepalive_seconds
        # Like httpx2's default, HTTP(S)_PROXY / NO_PROXY from the environment are honoured (a
        # deployment may reach its LLM provider through a proxy). Read once, decided once per
        # host: aiohttp's own ``trust_env`` looks them up in a worker thread on every request.
        self._env_proxies = urllib.request.getproxies() if trust_env else {}
        self._proxy_for: dict[tuple[str, str], str | None] = {}
        self._session: aiohttp.ClientSession | None = None

    def _proxy(self, url: httpx2.URL) -> str | None:
        if not self._env_proxies:
            return None
        key = (url.scheme, url.host)
        if key not in self._proxy_for:
            bypass = urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
                url.host, self._env_proxies
            )
            self._proxy_for[key] = None if bypass else self._env_proxies.get(url.scheme)
        return self._proxy_for[key]

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections,
                    keepalive_timeout=self._keepalive,
                    ttl_dns_cache=300,
                ),
                auto_decompress=False,
                skip_auto_headers=_NO_AUTO_HEADERS,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower().decode("latin-1") not in _COMPUTED
        ]
        body = b"".join([part async for part in request.stream])  # type: ignore[union-attr]
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=_sum(timeouts.get("pool"), timeouts.get("connect")),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        try:
            response = await self._client().request(
                request.method,
                # As httpx2 encoded it: aiohttp would re-quote the path and query otherwise
                # (``%7E`` -> ``~``, ``{`` -> ``%7B``), and a signed request covers them.
                yarl.URL(str(request.url), encoded=True),
                headers=headers,
                data=body or None,
                timeout=timeout,
                allow_redirects=False,
                proxy=self._proxy(request.url),
            )
        except (aiohttp.ConnectionTimeoutError, aiohttp.ServerTimeoutError, TimeoutError) as exc:
            kind = (
                httpx2.ConnectTimeout
                if isinstance(exc, aiohttp.ConnectionTimeoutError)
                else httpx2.ReadTimeout
            )
            raise kind(str(exc) or "timed out", request=request) from exc
        except aiohttp.ClientHttpProxyError as exc:
            # Not ``str(exc)``: it ends with the proxy's URL, credentials included.
            raise httpx2.ProxyError(
                f"proxy answered {exc.status} {exc.message}", request=request
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx2.ConnectError(str(exc), request=request) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise httpx2.RemoteProtocolError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx2.NetworkError(str(exc), request=request) from exc
        return httpx2.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode(),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
            # Let the connector's transports finish closing before the loop moves on.
            await asyncio.sleep(0)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()


def _sum(*parts: float | None) -> float | None:
    values: list[Any] = [p for p in parts if p is not None]
    return sum(values) if values else None
