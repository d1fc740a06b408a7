"""MCP tool latency over streamable HTTP: p50/p95 of list_records, search_records and
aggregate_records with N concurrent official MCP clients on the demo base.

Starts throwaway PostgreSQL and Redis and core as its own process (as `make up` does),
seeds the demo workspace and its sandbox base "Product Launch", syncs the mirror, creates an
API key, then runs the clients (each its own connection, calls one after another).

After the warm-up, list_records (the same query each time) is served from core's Redis cache
and search/aggregates from the PostgreSQL mirror, so the figures are the platform's own; each
line also shows how long the calls waited on Airtable (the sandbox, 5 req/s per base), as core
reports it per call in the result's ``_meta`` (``pap/upstream_ms``), so any such wait is visible
rather than counted silently as platform latency. Load averages are printed around the run.

    uv run python bench/mcp.py [--clients 50] [--calls 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

# Run as a script, this file's folder comes first on sys.path and the file itself (mcp.py)
# would shadow the `mcp` package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import httpx  # noqa: E402
import httpx2  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from pyairtable_platform.devinfra.local import free_port  # noqa: E402
from pyairtable_platform.devinfra.throwaway import throwaway_infra  # noqa: E402

# Per tool: milliseconds each call waited on Airtable, as core reports it in the result's _meta.
UPSTREAM: dict[str, list[float]] = {}

CALLS = {
    "list_records": lambda base: {
        "base_id": base,
        "table": "Tasks",
        "formula": "{Status}='Blocked'",
        "fields": ["Task", "Status", "Due"],
        "page_size": 20,
    },
    "search_records": lambda base: {"query": "launch", "base_id": base, "limit": 10},
    "aggregate_records": lambda base: {
        "base_id": base,
        "table": "Deals",
        "metrics": [{"op": "count"}, {"op": "sum", "field": "Amount"}],
        "group_by": ["Stage"],
    },
}


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"core exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} not ready within {timeout}s")


async def client_run(
    url: str, key: str, base: str, calls: int, timings: dict[str, list[float]], errors: list[str]
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(120)) as http,
        Client(streamable_http_client(url, http_client=http), read_timeout_seconds=120) as client,
    ):
        for n in range(calls):
            name = list(CALLS)[n % len(CALLS)]
            start = time.perf_counter()
            answer = await client.call_tool(name, CALLS[name](base))
            timings[name].append(time.perf_counter() - start)
            meta = answer.meta or {}
            UPSTREAM.setdefault(name, []).append(float(meta.get("pap/upstream_ms") or 0.0))
            if answer.is_error:
                errors.append(f"{name}: {answer.content[0]}")


async def run(core_url: str, key: str, base: str, clients: int, calls: int) -> None:
    # Warm-up: schema and mirror reads cached once, as in steady operation.
    await client_run(core_url + "/mcp", key, base, 3, {n: [] for n in CALLS}, [])
    timings: dict[str, list[float]] = {n: [] for n in CALLS}
    errors: list[str] = []
    UPSTREAM.clear()
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    start = time.perf_counter()
    await asyncio.gather(
        *(client_run(core_url + "/mcp", key, base, calls, timings, errors) for _ in range(clients))
    )
    elapsed = time.perf_counter() - start
    print("load average after:  {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    total = sum(len(v) for v in timings.values())
    print(
        f"{clients} clients x {calls} calls = {total} tool calls in {elapsed:.1f}s "
        f"({total / elapsed:.0f} calls/s), errors: {len(errors)}"
    )
    for name, values in timings.items():
        values.sort()
        p95 = values[int(len(values) * 0.95) - 1] if values else float("nan")
        waited = UPSTREAM.get(name) or [0.0]
        print(
            f"  {name:18} n={len(values):4}  p50 {statistics.median(values) * 1000:7.1f} ms"
            f"  p95 {p95 * 1000:7.1f} ms  max {values[-1] * 1000:7.1f} ms"
            f"  (waiting on Airtable: mean {statistics.fmean(waited):6.1f} ms,"
            f" max {max(waited):6.1f} ms)"
        )
    for error in errors[:5]:
        print("  error:", error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--calls", type=int, default=21)
    args = parser.parse_args()
    with throwaway_infra("pap_bench_mcp") as infra:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": infra.app_url,
            "REDIS_URL": infra.redis_url,
            "CORE_URL": f"http://127.0.0.1:{port}",
            "LOG_LEVEL": "WARNING",
            "LOG_REQUESTS": "false",
        }
        cli = [sys.executable, "-m", "pyairtable_platform.cli"]
        subprocess.run([*cli, "seed"], env=env, check=True, capture_output=True)
        created = subprocess.run(
            [*cli, "api-key", "create", "--scope", "write", "--name", "bench"],
            env=env,
            capture_output=True,
            text=True,
        )
        if created.returncode != 0:
            raise SystemExit(f"api-key create failed: {created.stderr}")
        key = created.stdout.strip()
        core = subprocess.Popen([*cli, "serve", "core", "--port", str(port)], env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url + "/ready", core)
            headers = {"Authorization": f"Bearer {key}"}
            bases = httpx.get(url + "/api/v1/airtable/bases", headers=headers, timeout=60).json()
            base = next(b["id"] for b in bases if b["name"] == "Product Launch")
            synced = httpx.post(
                f"{url}/api/v1/airtable/bases/{base}/sync",
                json={"wait": True, "full": True},
                headers=headers,
                timeout=300,
            )
            synced.raise_for_status()
            asyncio.run(run(url, key, base, args.clients, args.calls))
        finally:
            core.terminate()
            core.wait(15)


if __name__ == "__main__":
    main()
