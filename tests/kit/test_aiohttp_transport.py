"""kit.aiohttp_transport against real loopback servers: what goes out on the wire, what comes
back to httpx2 (and to the OpenAI SDK above it), and the errors each failure turns into.

The servers are plain asyncio servers written here, so a test controls every byte: it can hold
a stream half sent, never answer, or close mid-body.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import gzip
import json
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

import httpx2
import openai
import pytest

from pyairtable_platform.ai.providers.clients import provider_http_client
from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.kit.aiohttp_transport import AiohttpTransport
from tests.support.env import environ

# Bounds the waits on the servers below, so a test that goes wrong fails instead of hanging.
WAIT = 10.0
SHORT_READ = httpx2.Timeout(5, read=0.3)


@dataclass
class Received:
    """One request as it arrived: request line, headers in order (repeats kept), body."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


Handler = Callable[[Received, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> Received | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the client closed the connection between requests
    request_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
    method, target, _version = request_line.split(" ")
    headers = [(name, value.strip()) for name, value in (line.split(":", 1) for line in lines)]
    received = Received(method, target, headers, b"")
    length = received.values("content-length")
    if length:
        received.body = await reader.readexactly(int(length[0]))
    return received


class Server:
    """An HTTP/1.1 server on loopback: each request (several per connection) is recorded and
    answered by ``handler``, which writes the raw answer itself. Leaving the block cancels the
    handlers still waiting, so a server that never answers ends with its test."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Received] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while not writer.is_closing() and (request := await _read_request(reader)):
                self.requests.append(request)
                await self.handler(request, writer)
                await writer.drain()
        except ConnectionError:
            pass  # the client went away: what the test checks is on the client side
        except asyncio.CancelledError:
            # Cancelled by __aexit__ only; ending quietly keeps asyncio's stream callback from
            # logging the cancellation as an error.
            pass
        finally:
            writer.close()
            self._tasks.discard(task)


def answer(status: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    """A whole HTTP/1.1 answer with a Content-Length (unless ``headers`` choose another framing)."""
    if not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in headers):
        headers = [*headers, ("Content-Length", str(len(body)))]
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def client(**options: object) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=AiohttpTransport(), **options)  # type: ignore[arg-type]


def sdk(base_url: str, **options: object) -> openai.AsyncOpenAI:
    """The OpenAI SDK as the ai service builds it: over ``provider_http_client()``."""
    return openai.AsyncOpenAI(
        api_key="sk-test",
        base_url=base_url,
        http_client=provider_http_client(),
        max_retries=0,
        **options,  # type: ignore[arg-type]
    )


async def ok(request: Received, writer: asyncio.StreamWriter) -> None:
    head = answer("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    writer.write(head if request.method == "HEAD" else head + b"ok")


async def never_answers(request: Received, writer: asyncio.StreamWriter) -> None:
    await asyncio.Event().wait()  # cancelled when the test's server block ends


# --- what goes out and what comes back ------------------------------------------------------


async def test_request_goes_out_as_sent_and_the_answer_comes_back_whole() -> None:
    async def created(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(
            answer(
                "201 Created",
                [
                    ("Content-Type", "application/json"),
                    ("X-Repeated", "first"),
                    ("X-Repeated", "second"),
                    ("Set-Cookie", "a=1; Path=/"),
                    ("Set-Cookie", "b=2; Path=/"),
                ],
                b'{"id": 7}',
            )
        )

    # Percent-escapes of unreserved characters, braces and an escaped slash: the request line
    # must carry httpx2's spelling byte for byte (a signed request covers it).
    path = "/v1/items/a%2Fb/%7Euser?q=a%2Bb&x=y%20z&formula=AND({x}%3D'1')&list=1&list=2"
    body = b'{"name": "caf\xc3\xa9"}'
    async with Server(created) as server, client() as http:
        response = await http.post(
            server.url + path,
            content=body,
            headers=[
                ("Content-Type", "application/json"),
                ("User-Agent", "pap-test/1"),
                ("X-Multi", "1"),
                ("X-Multi", "2"),
            ],
        )

    [received] = server.requests
    assert received.method == "POST"
    assert received.target == response.request.url.raw_path.decode("ascii") == path
    assert received.body == body
    assert received.values("host") == [f"127.0.0.1:{server.port}"]
    assert received.values("content-length") == [str(len(body))]
    assert received.values("transfer-encoding") == []
    assert received.values("user-agent") == ["pap-test/1"]
    assert received.values("accept-encoding") == [response.request.headers["accept-encoding"]]
    assert received.values("accept") == ["*/*"]
    assert received.values("content-type") == ["application/json"]
    assert received.values("x-multi") == ["1", "2"]

    assert response.status_code == 201
    assert response.reason_phrase == "Created"
    assert response.headers.get_list("x-repeated") == ["first", "second"]
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.json() == {"id": 7}


# aiohttp also says "Content-Length: 0" for a DELETE without a body (httpx2 sends none): the
# same empty body, said explicitly.
@pytest.mark.parametrize(
    ("method", "content_length"),
    [("GET", []), ("HEAD", []), ("DELETE", ["0"]), ("POST", ["0"]), ("PUT", ["0"])],
)
async def test_request_without_body_carries_no_body_and_at_most_an_empty_content_length(
    method: str, content_length: list[str]
) -> None:
    async with Server(ok) as server, client() as http:
        response = await http.request(method, server.url + "/empty")

    [received] = server.requests
    assert response.status_code == 200
    assert received.method == method
    assert received.body == b""
    assert received.values("content-length") == content_length
    assert received.values("transfer-encoding") == []
    assert received.values("content-type") == []


async def test_callers_host_header_goes_out_instead_of_the_urls() -> None:
    async with Server(ok) as server, client() as http:
        response = await http.get(server.url + "/vhost", headers={"Host": "tenant.example"})

    assert response.status_code == 200
    assert server.requests[0].values("host") == ["tenant.example"]


async def test_requests_reuse_one_connection() -> None:
    connections: set[int] = set()

    async def by_connection(request: Received, writer: asyncio.StreamWriter) -> None:
        connections.add(id(writer))
        await ok(request, writer)

    async with Server(by_connection) as server, client() as http:
        for _ in range(3):
            assert (await http.get(server.url + "/again")).text == "ok"

    assert len(server.requests) == 3
    assert len(connections) == 1


# --- streamed answers ---------------------------------------------------------------------


async def test_first_chunk_of_a_stream_is_readable_while_the_server_holds_the_rest() -> None:
    release = asyncio.Event()
    finished = asyncio.Event()

    async def events(request: Received, writer: asyncio.StreamWriter) -> None:
        head = [("Content-Type", "text/event-stream"), ("Transfer-Encoding", "chunked")]
        writer.write(answer("200 OK", head) + chunk(b"data: one\n\n"))
        await writer.drain()
        await release.wait()
        writer.write(chunk(b"data: two\n\n") + chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        finished.set()

    async with (
        Server(events) as server,
        client() as http,
        http.stream("GET", server.url + "/events") as response,
    ):
        chunks = response.aiter_bytes()
        first = await asyncio.wait_for(anext(chunks), WAIT)
        held = not finished.is_set()
        release.set()
        rest = b"".join([part async for part in chunks])

    assert response.headers["content-type"] == "text/event-stream"
    assert first == b"data: one\n\n"
    assert held
    assert rest == b"data: two\n\ndata: [DONE]\n\n"


async def test_stream_closed_midway_frees_its_connection_for_the_next_request() -> None:
    async def endless(request: Received, writer: asyncio.StreamWriter) -> None:
        if request.target == "/after":
            await ok(request, writer)
            return
        head = [("Content-Type", "text/event-stream"), ("Transfer-Encoding", "chunked")]
        writer.write(answer("200 OK", head) + chunk(b"data: one\n\n"))
        await writer.drain()
        await asyncio.Event().wait()  # the rest never comes

    # One connection in the pool: a stream left holding it would make the next request wait.
    transport = AiohttpTransport(max_connections=1)
    async with (
        Server(endless) as server,
        httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(WAIT)) as http,
    ):
        async with http.stream("GET", server.url + "/events") as response:
            first = await anext(response.aiter_bytes())
        after = await http.get(server.url + "/after")

    assert first == b"data: one\n\n"
    assert after.text == "ok"
    assert [request.target for request in server.requests] == ["/events", "/after"]


async def test_sdk_streams_chat_chunks_as_the_server_sends_them() -> None:
    release = asyncio.Event()

    def event(content: str) -> bytes:
        data = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
        }
        return chunk(f"data: {json.dumps(data)}\n\n".encode())

    async def completion(request: Received, writer: asyncio.StreamWriter) -> None:
        head = [("Content-Type", "text/event-stream"), ("Transfer-Encoding", "chunked")]
        writer.write(answer("200 OK", head) + event("Hel"))
        await writer.drain()
        await release.wait()
        writer.write(event("lo") + chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")

    async with Server(completion) as server:
        llm = sdk(server.url + "/v1")
        try:
            stream = await llm.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            pieces = aiter(stream)
            first = await asyncio.wait_for(anext(pieces), WAIT)
            release.set()
            rest = [piece async for piece in pieces]
        finally:
            await llm.close()

    assert first.choices[0].delta.content == "Hel"
    assert [piece.choices[0].delta.content for piece in rest] == ["lo"]
    [received] = server.requests
    assert received.target == "/v1/chat/completions"


# --- what httpx2 keeps doing itself -------------------------------------------------------


async def test_gzip_answer_is_decoded_once_by_httpx2() -> None:
    text = b"a gzip-encoded answer, " * 50
    compressed = gzip.compress(text)

    async def gzipped(request: Received, writer: asyncio.StreamWriter) -> None:
        headers = [("Content-Type", "text/plain"), ("Content-Encoding", "gzip")]
        writer.write(answer("200 OK", headers, compressed))

    async with Server(gzipped) as server, client() as http:
        response = await http.get(server.url + "/gzip")
        async with http.stream("GET", server.url + "/gzip") as raw:
            on_the_wire = b"".join([part async for part in raw.aiter_raw()])

    assert "gzip" in server.requests[0].values("accept-encoding")[0]
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == text
    assert on_the_wire == compressed


async def test_redirect_is_returned_not_followed() -> None:
    async def moved(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(answer("302 Found", [("Location", "/elsewhere")], b"moved"))

    async with Server(moved) as server, client() as http:
        response = await http.get(server.url + "/old")

    assert response.status_code == 302
    assert response.headers["location"] == "/elsewhere"
    assert response.text == "moved"
    assert [request.target for request in server.requests] == ["/old"]


# --- failures become the httpx2 errors the SDKs handle -------------------------------------


async def test_connection_refused_is_a_connect_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with client() as http:
        with pytest.raises(httpx2.ConnectError):
            await http.get(url + "/nobody")

    llm = sdk(url + "/v1")
    try:
        with pytest.raises(openai.APIConnectionError) as raised:
            await llm.models.list()
    finally:
        await llm.close()
    assert not isinstance(raised.value, openai.APITimeoutError)
    assert isinstance(raised.value.__cause__, httpx2.ConnectError)


async def test_server_that_never_answers_is_a_read_timeout() -> None:
    async with Server(never_answers) as server:
        async with client(timeout=SHORT_READ) as http:
            with pytest.raises(httpx2.ReadTimeout):
                await http.get(server.url + "/silent")

        llm = sdk(server.url + "/v1", timeout=SHORT_READ)
        try:
            with pytest.raises(openai.APITimeoutError):
                await llm.models.list()
        finally:
            await llm.close()

    assert [request.target for request in server.requests] == ["/silent", "/v1/models"]


async def test_body_that_stalls_after_the_headers_is_a_read_timeout() -> None:
    async def stalls(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(answer("200 OK", [("Content-Length", "100")], b"partial"))
        await writer.drain()
        await asyncio.Event().wait()

    async with (
        Server(stalls) as server,
        client(timeout=SHORT_READ) as http,
        http.stream("GET", server.url + "/stall") as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx2.ReadTimeout):
            await response.aread()


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(answer("200 OK", [("Content-Length", "100")], b"only ten b"), id="length"),
        pytest.param(
            answer("200 OK", [("Transfer-Encoding", "chunked")]) + chunk(b"only one"),
            id="chunked",
        ),
    ],
)
async def test_server_closing_mid_body_is_an_error_not_a_short_body(framing: bytes) -> None:
    async def cut_short(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(framing)
        await writer.drain()
        writer.close()

    async with Server(cut_short) as server, client() as http:
        with pytest.raises((httpx2.RemoteProtocolError, httpx2.ReadError)):
            await http.get(server.url + "/short")


async def test_server_closing_before_answering_is_a_remote_protocol_error() -> None:
    async def hangs_up(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async with Server(hangs_up) as server, client() as http:
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.post(server.url + "/bye", content=b"x")


# --- proxies from the environment ---------------------------------------------------------


async def test_http_proxy_from_the_environment_carries_requests_except_no_proxy_hosts() -> None:
    async def proxied(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(answer("200 OK", [], b"via proxy"))

    async with Server(proxied) as proxy, Server(ok) as target:
        proxy_url = f"http://pap:s3cret@127.0.0.1:{proxy.port}"
        with environ({"HTTP_PROXY": proxy_url, "NO_PROXY": "127.0.0.1"}):
            transport = AiohttpTransport()
        async with httpx2.AsyncClient(transport=transport) as http:
            through = await http.get(f"http://localhost:{target.port}/far?q=a%2Bb")
            direct = await http.get(f"{target.url}/near?q=1")

    assert through.text == "via proxy"
    [at_proxy] = proxy.requests
    assert at_proxy.target == f"http://localhost:{target.port}/far?q=a%2Bb"
    assert at_proxy.values("host") == [f"localhost:{target.port}"]
    credentials = base64.b64encode(b"pap:s3cret").decode()
    assert at_proxy.values("proxy-authorization") == [f"Basic {credentials}"]
    assert direct.text == "ok"
    [at_target] = target.requests
    assert at_target.target == "/near?q=1"
    assert at_target.values("proxy-authorization") == []


async def test_proxy_refusing_an_https_tunnel_is_a_proxy_error_without_its_password() -> None:
    async def refuses(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(answer("403 Forbidden", [("Connection", "close")]))
        writer.close()

    async with Server(refuses) as proxy:
        with environ({"HTTPS_PROXY": f"http://pap:s3cret@127.0.0.1:{proxy.port}"}):
            transport = AiohttpTransport()
        async with httpx2.AsyncClient(transport=transport) as http:
            with pytest.raises(httpx2.ProxyError) as raised:
                await http.get("https://provider.test/v1/models")

    assert "403" in str(raised.value)
    assert "s3cret" not in str(raised.value)
    [at_proxy] = proxy.requests
    assert (at_proxy.method, at_proxy.target) == ("CONNECT", "provider.test:443")


async def test_transport_without_trust_env_ignores_http_proxy() -> None:
    async with Server(ok) as proxy, Server(ok) as target:
        with environ({"HTTP_PROXY": proxy.url}):
            transport = AiohttpTransport(trust_env=False)
        async with httpx2.AsyncClient(transport=transport) as http:
            response = await http.get(f"{target.url}/direct")

    assert response.text == "ok"
    assert proxy.requests == []
    assert [request.target for request in target.requests] == ["/direct"]


# --- closing --------------------------------------------------------------------------------


async def _used_and_closed(url: str) -> bool:
    """Sends one request through a client of its own and closes it; whether its aiohttp session
    ended closed. Nothing of the client outlives the call, so collecting garbage afterwards
    would warn about any session or socket left open."""
    transport = AiohttpTransport()
    async with httpx2.AsyncClient(transport=transport) as http:
        assert (await http.get(url)).text == "ok"
        session = transport._session
        assert session is not None
        assert not session.closed
    assert session.connector is None or session.connector.closed
    return session.closed


async def test_closing_the_client_closes_the_session_without_resource_warnings() -> None:
    async with Server(ok) as server:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            closed = await _used_and_closed(server.url + "/once")
            gc.collect()

    assert closed
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_closing_a_client_that_sent_nothing_is_fine() -> None:
    transport = AiohttpTransport()
    async with httpx2.AsyncClient(transport=transport):
        pass
    assert transport._session is None
