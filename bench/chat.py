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
  fake (it tags each request with the turn) — the "LLM time" the goal excludes;
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
only: steadier than latencies on a shared machine) and its RSS once ready and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TAG = re.compile(r"#turn-(\d+)")
FAILURES: list[str] = []


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _family(pid: int) -> list[int]:
    """A process and its children (uvicorn workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(p) for p in children.read_text().split()] if children.exists() else []
    return [pid, *kids]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and its children have used so far."""
    total = 0
    for p in _family(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn workers), in MB."""
    total = 0
    for p in _family(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


# --- the fake provider process ------------------------------------------------------


def serve_fake(port: int, base_id: str) -> None:
    """The scripted OpenAI-compatible fake, timing each request by the turn tag it carries."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
    from starlette.types import Receive, Scope, Send

    sys.path.insert(0, str(ROOT))
    from tests.ai.fakes.openai_server import create_openai_app
    from tests.ai.fakes.script import Recorder, Script, ToolCall, call, text

    script = Script()
    script.steps = [
        call(ToolCall("list_bases")),
        call(ToolCall("list_tables", {"base_id": base_id, "detail": "ids"})),
        text("Your base has several tables."),
    ]
    inner = create_openai_app(script, Recorder())
    spent: dict[str, float] = {}

    async def stats(request: Request) -> Response:
        return JSONResponse(spent)

    inner.router.routes.append(Route("/stats", stats))

    async def timed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/stats":
            await inner(scope, receive, send)
            return
        started = time.perf_counter()
        chunks: list[bytes] = []

        async def replay() -> Any:
            message = await receive()
            chunks.append(message.get("body", b""))
            return message

        try:
            await inner(scope, replay, send)
        finally:
            found = TAG.search(b"".join(chunks).decode("utf-8", "replace"))
            if found:
                key = found.group(1)
                spent[key] = spent.get(key, 0.0) + (time.perf_counter() - started) * 1000

    uvicorn.run(timed, host="127.0.0.1", port=port, log_level="warning")


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


async def one_turn(http: Any, headers: dict[str, str], n: int) -> dict[str, float]:
    import orjson

    started = time.perf_counter()
    first = None
    timings: dict[str, Any] = {}
    async with http.stream(
        "POST",
        "/api/v1/chat",
        json={"message": f"What tables? #turn-{n}", "stream": True},
        headers=headers,
    ) as response:
        response.raise_for_status()
        buffer = b""
        async for chunk in response.aiter_bytes():
            if first is None:
                first = time.perf_counter()
            buffer += chunk
    done = time.perf_counter()
    errors = []
    status = "no message_end"
    for block in buffer.split(b"\n\n"):
        if block.startswith(b"event: error"):
            errors.append(orjson.loads(block.split(b"data: ", 1)[1]))
        if block.startswith(b"event: message_end"):
            data = orjson.loads(block.split(b"data: ", 1)[1])
            status = data["status"]
            timings = data.get("timings") or {}
    if status != "completed":
        FAILURES.append(f"{status}: {errors}")
    assert first is not None
    return {
        "n": n,
        "first": (first - started) * 1000,
        "total": (done - started) * 1000,
        "server": float(timings.get("turn_ms", 0.0)),
        "llm_calls": float(timings.get("llm_ms", 0.0)),
        "tools": float(timings.get("tools_ms", 0.0)),
        "upstream": float(timings.get("upstream_ms", 0.0)),
    }


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


async def drive(
    ai_url: str,
    fake_url: str,
    token: str,
    turns: int,
    concurrency: int,
    profile: tuple[dict[str, int], str | None] = ({}, None),
) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=turns + 10)
    async with httpx.AsyncClient(base_url=ai_url, timeout=300, limits=limits) as http:
        for n in range(3):  # warm up: pools, caches, the first (uncached) Airtable reads
            await one_turn(http, headers, -1 - n)
        print(f"load average before: {load()}")
        spies = start_profilers(*profile)
        cpu_before = {name: cpu_seconds(pid) for name, pid in profile[0].items()}
        started = time.perf_counter()
        gate = asyncio.Semaphore(concurrency)

        async def gated(n: int) -> dict[str, float]:
            async with gate:
                return await one_turn(http, headers, n)

        results = await asyncio.gather(*(gated(n) for n in range(turns)))
        wall = time.perf_counter() - started
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in profile[0].items()}
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(30)
        print(f"load average after:  {load()}")
        provider = (await http.get(fake_url + "/stats")).json()
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
    print(
        "CPU per turn (all processes of each service, during the measured turns): "
        + ", ".join(f"{name} {seconds * 1000 / turns:.1f} ms" for name, seconds in cpu.items())
    )


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
            asyncio.run(
                drive(ai_url, fake_url, token, args.turns, concurrency, (targets, args.profile))
            )
            names = ("core", "fake", "ai")
            print(
                "memory (RSS): "
                + ", ".join(
                    f"{n} {rss_mb(p.pid):.0f} MB" for n, p in zip(names, procs, strict=True)
                )
            )
        finally:
            for proc in reversed(procs):
                proc.terminate()
            for proc in procs:
                proc.wait(15)


if __name__ == "__main__":
    main()
