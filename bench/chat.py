"""Platform overhead of chat turns, with a fake LLM provider that answers instantly.

Runs like ``make up``: throwaway PostgreSQL and Redis, the demo workspace and sandbox base
seeded by the CLI, then **core**, **ai** and the scripted OpenAI-compatible **fake provider**
each as its own process, and this process as the load generator. It signs in as the demo user
and runs N concurrent streamed chat turns (each a new session), each calling two MCP tools
(``list_bases``, then ``list_tables`` on the demo base) before answering.

Per turn it reports:

- time to first event: request sent → first SSE bytes (``message_start``);
- whole turn: request sent → end of stream;
- provider: time the fake provider spent answering the turn's LLM calls, measured inside the
  fake from the request fully received to the last byte of the answer written (it tags each
  request with the turn) — the "LLM time" the goal excludes;
- upstream: time core's MCP tools waited on Airtable (the sandbox) — rate-limiter slots, the
  requests, loads by others they waited for — as core reports it in each tool result's
  ``_meta`` and the ai service sums it into ``message_end.timings``. After the warm-up turn the
  two tools are served from core's Redis cache, so this is normally 0: the bench measures the
  cached path and subtracts any upstream wait that remains, it does not hide it;
- **platform overhead = whole turn - provider - upstream**: auth, budgets, history, the agent
  loop, the MCP calls through core, storage, streaming, and every HTTP hop in between.

    uv run python bench/chat.py [--turns 100] [--concurrency N] [--ai-workers 1]
        [--core-workers 1] [--profile DIR]

``--concurrency`` caps the turns in flight (default: all at once, the issue's burst of 100);
``--profile DIR`` records py-spy profiles of core, ai and the fake during the measured turns
(``PY_SPY`` names the binary, ``PY_SPY_RATE`` the samples per second, default 100). It also
prints each service's CPU time per turn (user + system, all its processes, measured turns
only: steadier than latencies on a shared machine) and its RSS once ready, at the end and
``IDLE_SECONDS`` later (what stays once idle).

Every process shares the machine's cores, so whatever CPU the fake provider and the load
generator burn is taken from core and ai and shows up as "platform overhead" when many turns
run at once. Both are therefore as cheap as Python allows: the fake is a bare asyncio
``Protocol`` HTTP/1.1 server (keep-alive, ``Content-Length`` request bodies, chunked SSE
answers pre-encoded once, with only the ids, model and time filled in per call) and the load
generator a bare asyncio ``Protocol`` client on keep-alive connections, both on uvloop when it
is installed. Their own CPU per turn is printed next to the services' (and PostgreSQL's and
Redis's), and a "CPU floor" line gives the least wall time the turns in flight could take on
this machine's cores with that much CPU per turn, to compare the measured burst with.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson

from pyairtable_platform.devinfra.procstat import cpu_seconds, rss_mb

ROOT = Path(__file__).resolve().parent.parent
TAG = re.compile(rb"#turn-(\d+)")
FAILURES: list[str] = []
TURN_TIMEOUT = 300  # seconds: a turn that takes longer stops the bench
_T = TypeVar("_T")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def run_fast(main: Coroutine[Any, Any, _T]) -> _T:
    """Run on uvloop when installed (it comes with ``uvicorn[standard]``): a cheaper loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


IDLE_SECONDS = 5.0


# --- HTTP/1.1 framing shared by the fake and the load generator ----------------------


def parse_head(head: bytes) -> tuple[list[bytes], dict[bytes, bytes]]:
    """The start line's parts and the (lower-cased) headers of a request or response head."""
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return lines[0].split(b" ", 2), headers


def keeps_alive(version: bytes, headers: dict[bytes, bytes]) -> bool:
    connection = headers.get(b"connection", b"").lower()
    return connection == b"keep-alive" if version == b"HTTP/1.0" else connection != b"close"


def chunked(pieces: list[bytes]) -> bytes:
    """A whole chunked body: one chunk per piece (per SSE event, as a streaming server sends)."""
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


# --- the fake provider process ------------------------------------------------------

# Filled in per answer: pre-encoded with these markers, substituted with ``bytes.replace``.
# An SSE event never holds a NUL byte (JSON escapes it), so NUL joins a reply's events.
_ID, _MODEL, _CREATED, _CALL = b"@id@", b"@model@", b"@created@", b"@call%d@"
_USAGE = {
    "prompt_tokens": 100,
    "completion_tokens": 20,
    "total_tokens": 120,
    "prompt_tokens_details": {"cached_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0},
}
_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 411: b"Length Required"}
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"transfer-encoding: chunked\r\n"
)
_PATHS = (b"/v1/chat/completions", b"/chat/completions")


def _marked(data: dict[str, Any]) -> bytes:
    """JSON with the markers as values; ``created`` is a number, so its quotes go too."""
    return orjson.dumps(data).replace(b'"' + _CREATED + b'"', _CREATED)


@dataclass(frozen=True)
class Reply:
    """One scripted model answer, pre-encoded: the SSE events and the non-streamed JSON."""

    events: bytes  # ``data: …`` events joined with NUL, markers in place
    whole: bytes
    calls: int

    @classmethod
    def encode(cls, text: str = "", calls: tuple[tuple[str, dict[str, Any]], ...] = ()) -> Reply:
        """The chunks the openai-compatible test fake (``tests/ai/fakes``) sends, same order."""
        envelope = {"id": _ID.decode(), "created": _CREATED.decode(), "model": _MODEL.decode()}
        tool_calls = [
            {
                "id": (_CALL % i).decode(),
                "type": "function",
                "function": {"name": name, "arguments": orjson.dumps(arguments).decode()},
            }
            for i, (name, arguments) in enumerate(calls)
        ]
        finish = "tool_calls" if calls else "stop"

        def chunk(fields: dict[str, Any]) -> bytes:
            data = {"id": envelope["id"], "object": "chat.completion.chunk", **envelope, **fields}
            return b"data: " + _marked(data) + b"\n\n"

        def delta(value: dict[str, Any], reason: str | None = None) -> bytes:
            return chunk({"choices": [{"index": 0, "delta": value, "finish_reason": reason}]})

        words = text.split(" ") if text else []
        events = [delta({"role": "assistant", "content": ""})]
        events += [
            delta({"content": w + (" " if i < len(words) - 1 else "")}) for i, w in enumerate(words)
        ]
        if calls:
            events.append(
                delta({"tool_calls": [{"index": i, **c} for i, c in enumerate(tool_calls)]})
            )
        events += [delta({}, finish), chunk({"choices": [], "usage": _USAGE}), b"data: [DONE]\n\n"]
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = tool_calls
        whole = {
            "id": envelope["id"],
            "object": "chat.completion",
            **envelope,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": _USAGE,
        }
        return cls(b"\0".join(events), _marked(whole), len(calls))


def step_of(messages: list[dict[str, Any]]) -> int:
    """The turn's step: how many assistant messages follow the last user message."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    return sum(1 for m in messages[last_user + 1 :] if m.get("role") == "assistant")


def respond(status: int, body: bytes, *, close: bool = False) -> bytes:
    """A whole JSON response with its ``Content-Length``."""
    return b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (
        status,
        _REASONS[status],
        len(body),
        b"connection: close\r\n" if close else b"",
        body,
    )


class FakeProvider:
    """The scripted conversation of every turn, and the time spent answering each turn."""

    def __init__(self, base_id: str) -> None:
        self.replies = (
            Reply.encode(calls=(("list_bases", {}),)),
            Reply.encode(calls=(("list_tables", {"base_id": base_id, "detail": "ids"}),)),
            Reply.encode("Your base has several tables."),
        )
        self.spent: dict[str, float] = {}
        self.ids = itertools.count(1)

    def answer(self, method: bytes, path: bytes, body: bytes, close: bool) -> bytes:
        if method == b"GET" and path == b"/stats":
            return respond(200, orjson.dumps(self.spent), close=close)
        if method != b"POST" or path not in _PATHS:
            return respond(404, b'{"error": {"message": "not found"}}', close=close)
        try:
            request = orjson.loads(body)
            reply = self.replies[min(step_of(request["messages"]), len(self.replies) - 1)]
            model = orjson.dumps(request.get("model", "fake-model"))[1:-1]
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return respond(400, b'{"error": {"message": "not a chat completion"}}', close=close)
        stream = bool(request.get("stream"))
        out = reply.events if stream else reply.whole
        out = out.replace(_ID, b"chatcmpl-%d" % next(self.ids)).replace(_MODEL, model)
        out = out.replace(_CREATED, b"%d" % time.time())
        for i in range(reply.calls):
            out = out.replace(_CALL % i, b"call_%d" % next(self.ids))
        if not stream:
            return respond(200, out, close=close)
        head = _SSE_HEAD + (b"connection: close\r\n\r\n" if close else b"\r\n")
        return head + chunked(out.split(b"\0"))


class FakeConnection(asyncio.Protocol):
    """One client connection to the fake: requests in turn, each answered in one write."""

    def __init__(self, fake: FakeProvider) -> None:
        self.fake = fake
        self.buffer = bytearray()
        self.head: tuple[bytes, bytes, int, bool] | None = None  # method, path, length, close
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        transport, buffer = self.transport, self.buffer
        assert transport is not None
        buffer += data
        while not transport.is_closing():
            if self.head is None:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > 65536:
                        transport.close()
                    return
                try:
                    self.head = request_head(bytes(buffer[:end]))
                except Refused as exc:
                    transport.write(exc.response)
                    transport.close()
                    return
                del buffer[: end + 4]
            method, path, length, close = self.head
            if len(buffer) < length:
                return
            started = time.perf_counter()
            body = bytes(buffer[:length])
            del buffer[:length]
            self.head = None
            transport.write(self.fake.answer(method, path, body, close))
            spent = (time.perf_counter() - started) * 1000
            if found := TAG.search(body):
                turn = found.group(1).decode()
                self.fake.spent[turn] = self.fake.spent.get(turn, 0.0) + spent
            if close:
                transport.close()


class Refused(Exception):
    """A request the fake cannot read: answered with this status, then the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.response = respond(status, orjson.dumps({"error": {"message": message}}), close=True)


def request_head(head: bytes) -> tuple[bytes, bytes, int, bool]:
    """Method, path, body length and whether to close after answering, from a request head."""
    try:
        (method, path, version), headers = parse_head(head)
        length = int(headers.get(b"content-length", b"0"))
    except ValueError as exc:
        raise Refused(400, "malformed request head") from exc
    if b"transfer-encoding" in headers:  # what the ai service sends has a Content-Length
        raise Refused(411, "chunked request bodies are not supported")
    return method, path, length, not keeps_alive(version, headers)


def serve_fake(port: int, base_id: str) -> None:
    """The scripted OpenAI-compatible fake, timing each request by the turn tag it carries."""
    fake = FakeProvider(base_id)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: FakeConnection(fake), "127.0.0.1", port, backlog=1024
        )
        await server.serve_forever()

    run_fast(serve())


# --- the load generator -------------------------------------------------------------


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} not ready within {timeout}s")


@dataclass
class Answer:
    status: int
    first: float  # perf_counter when the first body bytes arrived
    done: float  # perf_counter when the body was complete
    body: bytes
    keep_alive: bool


class Connection(asyncio.Protocol):
    """A keep-alive client connection: one request at a time, the response's body read as
    ``Content-Length``, chunked or up to the close, with the arrival time of its first bytes."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Answer] | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.length = -1  # -1: chunked or up to the close
        self.chunked = False
        self.keep_alive = True
        self.first = 0.0
        self.parts: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            if self.status and not self.chunked and self.length < 0:  # close-delimited body
                self._finish(time.perf_counter(), bytes(self.buffer))
            else:
                self.waiter.set_exception(exc or ConnectionError("closed mid-response"))

    async def request(self, payload: bytes) -> Answer:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return await self.waiter

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buffer = self.buffer
        buffer += data
        if not self.status:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            (version, status, *_), headers = parse_head(bytes(buffer[:end]))
            del buffer[: end + 4]
            self.status = int(status)
            self.chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
            self.length = -1 if self.chunked else int(headers.get(b"content-length", b"-1"))
            self.keep_alive = keeps_alive(version, headers)
        if buffer and not self.first:
            self.first = now
        if self.chunked:
            self._chunks(now)
        elif 0 <= (length := self.length) <= len(buffer):
            body = bytes(buffer[:length])
            del buffer[:length]
            self._finish(now, body)

    def _chunks(self, now: float) -> None:
        buffer, pos = self.buffer, 0
        while (line := buffer.find(b"\r\n", pos)) >= 0:
            size = int(bytes(buffer[pos:line]).split(b";", 1)[0], 16)
            if size == 0:  # the last chunk; the service sends no trailers
                if len(buffer) < line + 4:
                    break
                del buffer[: line + 4]
                self._finish(now, b"".join(self.parts))
                return
            if len(buffer) < line + size + 4:
                break
            self.parts.append(bytes(buffer[line + 2 : line + 2 + size]))
            pos = line + size + 4
        del buffer[:pos]

    def _finish(self, now: float, body: bytes) -> None:
        answer = Answer(self.status, self.first or now, now, body, self.keep_alive)
        self._reset()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(answer)


class Pool:
    """Keep-alive connections to one server, opened when all are busy (as httpx does)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Connection] = []

    async def send(self, payload: bytes) -> Answer:
        while self.idle and self.idle[-1].closed:
            self.idle.pop()
        if self.idle:
            connection = self.idle.pop()
        else:
            loop = asyncio.get_running_loop()
            _, connection = await loop.create_connection(Connection, self.host, self.port)
        answer = await connection.request(payload)
        if answer.keep_alive and not connection.closed:
            self.idle.append(connection)
        elif connection.transport is not None:
            connection.transport.close()
        return answer

    def close(self) -> None:
        for connection in self.idle:
            if connection.transport is not None:
                connection.transport.close()


def chat_request(host: str, token: str, n: int) -> bytes:
    body = orjson.dumps({"message": f"What tables? #turn-{n}", "stream": True})
    head = (
        f"POST /api/v1/chat HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\n"
        f"content-type: application/json\r\naccept: text/event-stream\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def one_turn(pool: Pool, token: str, n: int) -> dict[str, float]:
    payload = chat_request(f"{pool.host}:{pool.port}", token, n)
    started = time.perf_counter()
    answer = await asyncio.wait_for(pool.send(payload), TURN_TIMEOUT)
    timings: dict[str, Any] = {}
    errors = []
    status = "no message_end" if answer.status == 200 else f"HTTP {answer.status}"
    for block in answer.body.split(b"\n\n"):
        if block.startswith(b"event: error"):
            errors.append(orjson.loads(block.split(b"data: ", 1)[1]))
        if block.startswith(b"event: message_end"):
            data = orjson.loads(block.split(b"data: ", 1)[1])
            status = data["status"]
            timings = data.get("timings") or {}
    if status != "completed":
        FAILURES.append(f"{status}: {errors or answer.body[:300]!r}")
    return {
        "n": n,
        "first": (answer.first - started) * 1000,
        "total": (answer.done - started) * 1000,
        "server": float(timings.get("turn_ms", 0.0)),
        "llm_calls": float(timings.get("llm_ms", 0.0)),
        "tools": float(timings.get("tools_ms", 0.0)),
        "upstream": float(timings.get("upstream_ms", 0.0)),
    }


def servers_of(data_dir: Path) -> dict[str, int]:
    """The PostgreSQL postmaster (its backends are its children) and Redis the throwaway infra
    started, from their pid files (none when ``TEST_PG_SUPERUSER_URL``/``TEST_REDIS_URL`` name
    servers of their own)."""
    found = {}
    for name, pid_file in (("postgres", "pg/postmaster.pid"), ("redis", "redis/redis.pid")):
        with contextlib.suppress(FileNotFoundError, IndexError, ValueError):
            found[name] = int((data_dir / pid_file).read_text().split()[0])
    return found


def start_profilers(targets: dict[str, int], out: str | None) -> list[subprocess.Popen[bytes]]:
    """py-spy on each service during the measured burst (``--profile DIR``)."""
    if not out:
        return []
    Path(out).mkdir(parents=True, exist_ok=True)
    spy = os.environ.get("PY_SPY", "py-spy")
    rate = os.environ.get("PY_SPY_RATE", "100")  # samples per second
    return [
        subprocess.Popen(
            [spy, "record", "-p", str(pid), "-r", rate, "-f", "raw", "-o", f"{out}/{name}.txt"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in targets.items()
    ]


@dataclass
class Burst:
    results: list[dict[str, float]]
    wall: float  # seconds
    cpu: dict[str, float]  # seconds per process during the measured turns


async def drive(
    ai_port: int,
    token: str,
    turns: int,
    concurrency: int,
    profile: tuple[dict[str, int], str | None] = ({}, None),
    also: dict[str, int] | None = None,
) -> Burst:
    """The warm-up and the measured turns, with the CPU time of the profiled services, of the
    ``also`` processes (PostgreSQL, Redis) and of this one over the measured turns."""
    watched = {**profile[0], **(also or {})}
    pool = Pool("127.0.0.1", ai_port)
    try:
        for n in range(3):  # warm up: pools, caches, the first (uncached) Airtable reads
            await one_turn(pool, token, -1 - n)
        print(f"load average before: {load()}")
        spies = start_profilers(*profile)
        cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        own_before = time.process_time()
        started = time.perf_counter()
        gate = asyncio.Semaphore(concurrency)

        async def gated(n: int) -> dict[str, float]:
            async with gate:
                return await one_turn(pool, token, n)

        results = await asyncio.gather(*(gated(n) for n in range(turns)))
        wall = time.perf_counter() - started
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in watched.items()}
        cpu["generator"] = time.process_time() - own_before
    finally:
        pool.close()
    for spy in spies:
        spy.send_signal(signal.SIGINT)
    for spy in spies:
        spy.wait(30)
    print(f"load average after:  {load()}")
    return Burst(list(results), wall, cpu)


def report(
    burst: Burst,
    provider: dict[str, float],
    turns: int,
    concurrency: int,
    workers: dict[str, int],
) -> None:
    results, wall = burst.results, burst.wall
    for r in results:
        r["provider"] = float(provider.get(str(int(r["n"])), 0.0))
        r["overhead"] = r["total"] - r["provider"] - r["upstream"]
    print(
        f"chat turns: {turns}, {concurrency} at a time, 2 MCP tool calls + 3 LLM calls each, "
        f"instant fake provider; wall {wall:.2f}s ({turns / wall:.1f} turns/s)"
    )
    rows = (
        ("time to first event", "first"),
        ("whole turn", "total"),
        ("  provider (fake)", "provider"),
        ("  upstream (Airtable)", "upstream"),
        ("  ai: LLM calls", "llm_calls"),
        ("  ai: MCP tool calls", "tools"),
        ("platform overhead", "overhead"),
    )
    print(f"failed turns: {len(FAILURES)}" + (f" (first: {FAILURES[0][:300]})" if FAILURES else ""))
    for name, key in rows:
        values = [r[key] for r in results]
        print(
            f"{name:>22}: p50 {pct(values, 0.5):8.1f} ms   p95 {pct(values, 0.95):8.1f} ms"
            f"   mean {statistics.fmean(values):8.1f} ms"
        )
    print(
        "  (overhead = whole turn - provider - upstream; 'ai: LLM calls' is the ai service's "
        "own view of its LLM calls, client side included)"
    )
    per_turn = {name: seconds * 1000 / turns for name, seconds in burst.cpu.items()}
    print(
        "CPU per turn (all processes of each service, during the measured turns): "
        + ", ".join(f"{name} {ms:.1f} ms" for name, ms in per_turn.items())
        + " (generator: this process, the load generator)"
    )
    print(cpu_floor(per_turn, concurrency, turns, burst, workers))


def least_per_turn(per_turn: dict[str, float], workers: dict[str, int]) -> tuple[float, str]:
    """The least wall time per turn this CPU allows when turns pile up, and what sets it: all of
    it spread over the cores, or one service's share on its own processes (each a single
    thread of Python, or Redis, using one core at most; PostgreSQL has a backend per
    connection, so it spreads)."""
    cores = os.cpu_count() or 1
    spread = sum(per_turn.values()) / cores
    serial = {
        name: ms / min(workers.get(name, 1), cores)
        for name, ms in per_turn.items()
        if name != "postgres"
    }
    name = max(serial, key=serial.__getitem__, default="")
    if name and serial[name] > spread:
        count = min(workers.get(name, 1), cores)
        return serial[name], f"{name} alone on its {count} process{'es' if count > 1 else ''}"
    return spread, f"all of it on {cores} cores"


def cpu_floor(
    per_turn: dict[str, float], at_once: int, turns: int, burst: Burst, workers: dict[str, int]
) -> str:
    """The least time the turns in flight can take on this machine's cores, given their CPU:
    how far the measured overhead is from what the hardware allows."""
    total = sum(per_turn.values())
    platform = per_turn.get("core", 0.0) + per_turn.get("ai", 0.0)
    stores = per_turn.get("postgres", 0.0) + per_turn.get("redis", 0.0)
    bench = per_turn.get("fake", 0.0) + per_turn.get("generator", 0.0)
    least, bound = least_per_turn(per_turn, workers)
    without, _ = least_per_turn(
        {n: ms for n, ms in per_turn.items() if n not in ("fake", "generator")}, workers
    )
    # Turns started together all end, at best, once all of their CPU is spent; the last one's
    # overhead leaves out its own provider and upstream time (a few ms at most).
    floor = at_once * least
    cores = os.cpu_count() or 1
    if floor > at_once * total / cores:  # the spread over the cores, for comparison
        bound += f"; all of it on {cores} cores: {at_once * total / cores:.0f} ms"
    excluded = statistics.fmean(r["provider"] + r["upstream"] for r in burst.results)
    overhead = [r["overhead"] for r in burst.results]
    line = (
        f"CPU floor: {total:.1f} ms CPU per turn (core + ai {platform:.1f}, postgres + redis "
        f"{stores:.1f}, fake + generator {bench:.1f}); {at_once} at once need at least "
        f"{floor:.0f} ms ({bound}): the last of them cannot show less than "
        f"~{max(floor - excluded, 0.0):.0f} ms overhead (~{at_once * without:.0f} ms if the "
        "fake and generator cost nothing)"
    )
    if turns > at_once:
        line += f", the {turns} turns no less than {turns * least / 1000:.2f} s wall"
    ratio = f" ({pct(overhead, 0.95) / floor:.1f}x the floor)" if floor else ""
    # Fewer cores busy than the floor assumes: the turns waited on something else than these
    # processes' CPU (other load on a shared machine, as the load average says; each other).
    busy = turns * total / 1000 / burst.wall
    line += (
        f"; measured overhead p95 {pct(overhead, 0.95):.0f} ms{ratio}, "
        f"max {max(overhead):.0f} ms, wall {burst.wall:.2f} s with {busy:.2f} of the "
        f"{cores} cores busy on these processes on average"
    )
    if at_once < cores:
        line += (
            " (a lone turn's work is mostly sequential, ai waiting on core and the fake, "
            "so it needs nearer its whole CPU time)"
        )
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument(
        "--concurrency", type=int, default=0, help="turns in flight at once (default: all)"
    )
    parser.add_argument("--ai-workers", type=int, default=1)
    parser.add_argument("--core-workers", type=int, default=1)
    parser.add_argument("--profile", metavar="DIR", help="py-spy core and ai into DIR")
    parser.add_argument("--fake-provider", nargs=2, metavar=("PORT", "BASE_ID"))
    args = parser.parse_args()
    if args.fake_provider:
        serve_fake(int(args.fake_provider[0]), args.fake_provider[1])
        return

    import httpx

    from pyairtable_platform.core.seed import DEMO_EMAIL, DEMO_PASSWORD
    from pyairtable_platform.devinfra.local import free_port
    from pyairtable_platform.devinfra.throwaway import throwaway_infra

    procs: list[subprocess.Popen[bytes]] = []
    with throwaway_infra("pap_bench_chat") as infra:
        core_port, ai_port, fake_port = free_port(), free_port(), free_port()
        core_url = f"http://127.0.0.1:{core_port}"
        ai_url = f"http://127.0.0.1:{ai_port}"
        fake_url = f"http://127.0.0.1:{fake_port}"
        env = {
            **os.environ,
            "ENVIRONMENT": "local",
            "DATABASE_URL": infra.app_url,
            "REDIS_URL": infra.redis_url,
            "CORE_URL": core_url,
            "LOG_LEVEL": "WARNING",
            "LOG_REQUESTS": "false",
            "LLM_PROVIDER": "openai-compatible",
            "OPENAI_BASE_URL": fake_url + "/v1",
            "LLM_MODEL": "fake-model",
            "AI_MODEL_PRICES": json.dumps({"fake-model": {"input": "1", "output": "4"}}),
        }
        cli = [sys.executable, "-m", "pyairtable_platform.cli"]
        core_workers, ai_workers = str(args.core_workers), str(args.ai_workers)
        seeded = subprocess.run([*cli, "seed"], env=env, capture_output=True, text=True)
        if seeded.returncode != 0:
            raise SystemExit(f"seed failed: {seeded.stderr[-2000:]}")
        try:
            procs.append(
                subprocess.Popen(
                    [*cli, "serve", "core", "--port", str(core_port), "--workers", core_workers],
                    env=env,
                )
            )
            wait_ready(core_url + "/ready", procs[-1])
            login = httpx.post(
                core_url + "/api/v1/auth/login",
                json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD},
                timeout=60,
            )
            login.raise_for_status()
            token = login.json()["access_token"]
            bases = httpx.get(
                core_url + "/api/v1/airtable/bases",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            ).json()
            base = next(b["id"] for b in bases if b["name"] == "Product Launch")
            procs.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--fake-provider", str(fake_port), base],
                    env=env,
                    cwd=ROOT,
                )
            )
            wait_ready(fake_url + "/stats", procs[-1])
            procs.append(
                subprocess.Popen(
                    [*cli, "serve", "ai", "--port", str(ai_port), "--workers", ai_workers],
                    env=env,
                )
            )
            wait_ready(ai_url + "/ready", procs[-1])
            targets = {"core": procs[0].pid, "ai": procs[2].pid, "fake": procs[1].pid}
            print(
                "memory (RSS) once ready: "
                + ", ".join(f"{n} {rss_mb(pid):.0f} MB" for n, pid in targets.items())
            )
            concurrency = args.concurrency or args.turns
            burst = run_fast(
                drive(
                    ai_port,
                    token,
                    args.turns,
                    concurrency,
                    (targets, args.profile),
                    servers_of(infra.data_dir),
                )
            )
            provider = httpx.get(fake_url + "/stats", timeout=60).json()
            workers = {"core": args.core_workers, "ai": args.ai_workers}
            report(burst, provider, args.turns, concurrency, workers)
            names = ("core", "fake", "ai")
            print(
                "memory (RSS): "
                + ", ".join(
                    f"{n} {rss_mb(p.pid):.0f} MB" for n, p in zip(names, procs, strict=True)
                )
            )
            # What stays once idle: the ai service trims its heap 2 s after the last turn.
            time.sleep(IDLE_SECONDS)
            print(
                f"memory (RSS) {IDLE_SECONDS:.0f} s after, idle: "
                + ", ".join(
                    f"{n} {rss_mb(p.pid):.0f} MB" for n, p in zip(names, procs, strict=True)
                )
            )
        finally:
            for proc in reversed(procs):
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    # Never leave a service behind (nor stop the database under it first).
                    print(f"process {proc.pid} did not stop within 15 s of SIGTERM: killed")
                    proc.kill()
                    proc.wait(15)


if __name__ == "__main__":
    main()
