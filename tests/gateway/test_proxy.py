"""The gateway proxies to core and ai faithfully: methods, paths, queries, headers and
bodies both ways, streamed, with upstream failures mapped to 502/504."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pyairtable_platform.devinfra.local import free_port
from tests.gateway.conftest import Signer, Upstreams
from tests.support.servers import ThreadServer

pytestmark = pytest.mark.usefixtures("released")


@pytest.fixture
async def client(module_gateway: ThreadServer, signer: Signer) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {signer.token()}"}
    async with httpx.AsyncClient(base_url=module_gateway.url, headers=headers, timeout=30) as c:
        yield c


def header_values(echo: dict[str, Any], name: str) -> list[str]:
    return [value for key, value in echo["headers"] if key.lower() == name]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
async def test_every_method_reaches_core_unchanged(client: httpx.AsyncClient, method: str) -> None:
    body = b'{"name": "x"}' if method in ("POST", "PUT", "PATCH") else None
    response = await client.request(method, "/api/v1/things/42", content=body)
    echo = response.json()
    assert response.status_code == 200
    assert echo["service"] == "core"
    assert echo["method"] == method
    assert echo["path"] == "/api/v1/things/42"
    assert echo["body_size"] == (len(body) if body else 0)


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/chat", "ai"),
        ("/api/v1/chat/sessions/1", "ai"),
        ("/api/v1/ai/providers", "ai"),
        ("/api/v1/budgets", "ai"),
        ("/api/v1/usage/summary", "ai"),
        ("/api/v1/analysis/x", "ai"),
        ("/api/v1/chatter", "core"),
        ("/api/v1/workspaces", "core"),
        ("/mcp", "core"),
        ("/mcp/", "core"),
        ("/sandbox/v0/meta/bases", "core"),
    ],
)
async def test_the_route_table_sends_each_prefix_to_its_service(
    client: httpx.AsyncClient, path: str, service: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.json()["service"] == service
    assert response.json()["path"] == path


async def test_repeated_and_unicode_query_parameters_arrive_as_sent(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/api/v1/things", params=[("tag", "a"), ("tag", "b"), ("q", "café ☕ &=?"), ("empty", "")]
    )
    echo = response.json()
    assert echo["query_items"] == [["tag", "a"], ["tag", "b"], ["q", "café ☕ &=?"], ["empty", ""]]


async def test_percent_encoded_path_is_forwarded_without_decoding(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/things/a%2Fb%20c")
    assert response.json()["raw_path"] == "/api/v1/things/a%2Fb%20c"


async def raw_request(server: ThreadServer, head: bytes) -> tuple[int, bytes]:
    """A request written by hand: httpx would normalise the path and add its own headers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(head)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


async def test_dot_segments_are_refused_rather_than_guessed(module_gateway: ThreadServer) -> None:
    status, body = await raw_request(
        module_gateway,
        b"GET /sandbox/../api/v1/things HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert status == 400
    assert b'"error":"bad_request"' in body


async def test_no_headers_are_added_on_the_callers_behalf(module_gateway: ThreadServer) -> None:
    status, body = await raw_request(
        module_gateway,
        b"GET /sandbox/v0/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    names = {key.lower() for key, _ in json.loads(body)["headers"]}
    assert status == 200
    # Above all no Accept-Encoding: the upstream could answer gzip the caller cannot read.
    assert names.isdisjoint({"accept-encoding", "user-agent", "accept"})


async def test_end_to_end_headers_pass_and_hop_by_hop_headers_do_not(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/api/v1/things",
        headers={
            "X-Custom": "kept",
            "Accept": "application/json",
            "Connection": "keep-alive, X-Secret-Hop",
            "X-Secret-Hop": "dropped because Connection names it",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic eA==",
            "Upgrade": "h2c",
        },
    )
    echo = response.json()
    names = {key.lower() for key, _ in echo["headers"]}
    assert header_values(echo, "x-custom") == ["kept"]
    assert header_values(echo, "accept") == ["application/json"]
    assert header_values(echo, "authorization")[0].startswith("Bearer ")
    for hop in ("x-secret-hop", "keep-alive", "te", "proxy-authorization", "upgrade"):
        assert hop not in names
    # The upstream's hop-by-hop response headers do not reach the caller either.
    assert response.headers["x-upstream"] == "core"
    assert "x-secret-hop" not in response.headers


async def test_forwarded_headers_request_id_and_traceparent_are_set(
    client: httpx.AsyncClient, module_gateway: ThreadServer, upstreams: Upstreams
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = await client.get(
        "/api/v1/things",
        headers={
            "X-Request-ID": "proxy-req-1",
            "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
            "X-Forwarded-Host": "spoofed.example",
        },
    )
    echo = response.json()
    assert header_values(echo, "x-request-id") == ["proxy-req-1"]
    assert response.headers["x-request-id"] == "proxy-req-1"
    assert header_values(echo, "x-forwarded-for") == ["127.0.0.1"]
    assert header_values(echo, "x-forwarded-proto") == ["http"]
    assert header_values(echo, "x-forwarded-host") == [f"127.0.0.1:{module_gateway.port}"]
    # Host names the upstream; the caller's Host travels as X-Forwarded-Host.
    assert header_values(echo, "host") == [f"127.0.0.1:{upstreams.core_server.port}"]
    (traceparent,) = header_values(echo, "traceparent")
    assert traceparent.split("-")[1] == trace_id
    assert traceparent.split("-")[2] != "00f067aa0ba902b7"


async def test_a_5_mib_upload_streams_through_to_an_upload_route(
    client: httpx.AsyncClient,
) -> None:
    payload = os.urandom(5 * 1024 * 1024)
    response = await client.post("/api/v1/files", content=payload)
    echo = response.json()
    assert response.status_code == 200
    assert echo["body_size"] == len(payload)
    assert echo["body_sha256"] == hashlib.sha256(payload).hexdigest()


async def test_a_chunked_request_body_is_streamed_through(client: httpx.AsyncClient) -> None:
    parts = [os.urandom(64 * 1024) for _ in range(16)]

    async def body() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    response = await client.post("/api/v1/files", content=body())
    echo = response.json()
    assert header_values(echo, "transfer-encoding") == ["chunked"]
    assert echo["body_size"] == sum(map(len, parts))
    assert echo["body_sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()


async def test_a_body_over_the_json_limit_gets_413_from_its_content_length(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    response = await client.post("/api/v1/things", content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert "1048576 bytes" in response.json()["detail"]


async def test_a_chunked_body_over_the_limit_gets_413_while_streaming(
    client: httpx.AsyncClient,
) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"y" * (64 * 1024)

    response = await client.post("/api/v1/things", content=body())
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


async def test_upload_routes_have_their_own_bigger_limit(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/files", content=b"z" * (8 * 1024 * 1024 + 1))
    assert response.status_code == 413


async def test_a_large_streamed_response_arrives_whole(client: httpx.AsyncClient) -> None:
    async with client.stream("GET", "/api/v1/stream/chunks", params={"n": 30}) as response:
        received = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.status_code == 200
    expected = b"".join(bytes([65 + i % 26]) * 100_000 for i in range(30))
    assert received == expected


async def test_sse_first_event_arrives_before_the_upstream_finishes(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    async with client.stream("GET", "/api/v1/chat/sse") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        first = [await asyncio.wait_for(anext(lines), 10) for _ in range(2)]
        # Only now may the upstream send the rest: it is still mid-response.
        upstreams.ai.release.set()
        rest = [line async for line in lines]
    assert first == ["event: first", "data: hello"]
    assert "data: released" in rest


async def test_a_refused_upstream_connection_is_a_502(
    make_gateway: Any, signer: Signer, upstreams: Upstreams
) -> None:
    gateway = make_gateway(ai_url=f"http://127.0.0.1:{free_port()}")
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get(
            "/api/v1/chat/sessions", headers={"Authorization": f"Bearer {signer.token()}"}
        )
    assert response.status_code == 502
    assert response.json()["error"] == "bad_gateway"
    assert "ai is unreachable" in response.json()["detail"]
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_a_slow_upstream_is_a_504(make_gateway: Any, signer: Signer) -> None:
    gateway = make_gateway(upstream_read_timeout_seconds=0.3)
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get(
            "/api/v1/slow", headers={"Authorization": f"Bearer {signer.token()}"}
        )
    assert response.status_code == 504
    assert response.json()["error"] == "gateway_timeout"
    assert "core did not answer in time" in response.json()["detail"]
