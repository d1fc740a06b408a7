"""Core's CPU per cached MCP tool call, for each transport path.

Starts throwaway PostgreSQL and Redis, seeds the demo workspace and its sandbox base, runs core
as its own process (one worker) and signs in as the demo user. Then, per protocol revision,
it sends blocks of ``list_bases`` + ``list_tables`` pairs (what a chat turn calls) as plain
JSON-RPC POSTs on one keep-alive connection and reads core's CPU time (user + system, from
``/proc``) around each block: the figure is core's own work per pair of cached tool calls,
steadier than latencies on a shared machine. Revisions:

- ``2026-07-28``: single-exchange requests (no handshake; ``Mcp-Method``/``Mcp-Name`` headers
  and the client's info in ``_meta``);
- ``2025-11-25``: handshake-era requests, which the stateless transport serves by building a
  session per POST.

    uv run python bench/mcp_cpu.py [--pairs 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx

from pyairtable_platform.core.seed import DEMO_EMAIL, DEMO_PASSWORD
from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.devinfra.procstat import cpu_seconds
from pyairtable_platform.devinfra.throwaway import throwaway_infra

REVISIONS = ("2026-07-28", "2025-11-25")


def call(client: httpx.Client, token: str, revision: str, tool: str, args: dict[str, Any]) -> None:
    params: dict[str, Any] = {"name": tool, "arguments": args}
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": revision,
    }
    if revision >= "2026":
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": revision,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
        }
        headers |= {"Mcp-Method": "tools/call", "Mcp-Name": tool}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    answer = client.post("/mcp", headers=headers, json=body)
    result = answer.json().get("result")
    if answer.status_code != 200 or not result or result.get("isError"):
        raise SystemExit(f"{tool} failed: {answer.status_code} {answer.text[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=200, help="tool-call pairs per block")
    parser.add_argument("--rounds", type=int, default=3, help="blocks per revision")
    args = parser.parse_args()
    with throwaway_infra("pap_bench_mcp_cpu") as infra:
        url = f"http://127.0.0.1:{free_port()}"
        env = {
            **os.environ,
            "ENVIRONMENT": "local",
            "DATABASE_URL": infra.app_url,
            "REDIS_URL": infra.redis_url,
            "CORE_URL": url,
            "LOG_LEVEL": "WARNING",
            "LOG_REQUESTS": "false",
        }
        cli = [sys.executable, "-m", "pyairtable_platform.cli"]
        subprocess.run([*cli, "seed"], env=env, check=True, capture_output=True)
        port = url.rsplit(":", 1)[1]
        core = subprocess.Popen([*cli, "serve", "core", "--port", port, "--workers", "1"], env=env)
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                deadline = time.monotonic() + 90
                while True:
                    try:
                        if client.get("/ready").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline or core.poll() is not None:
                        raise SystemExit("core did not become ready")
                    time.sleep(0.2)
                login = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
                token = client.post("/api/v1/auth/login", json=login).json()["access_token"]
                bases = client.get(
                    "/api/v1/airtable/bases", headers={"Authorization": f"Bearer {token}"}
                ).json()
                base = next(b["id"] for b in bases if b["name"] == "Product Launch")

                def pairs(revision: str, count: int) -> float:
                    before = cpu_seconds(core.pid)
                    for _ in range(count):
                        call(client, token, revision, "list_bases", {})
                        call(client, token, revision, "list_tables", {"base_id": base})
                    return (cpu_seconds(core.pid) - before) / count * 1000

                for revision in REVISIONS:
                    pairs(revision, 30)  # warm-up: Airtable's answers into the cache
                print(f"load average before: {os.getloadavg()}")
                figures: dict[str, list[float]] = {r: [] for r in REVISIONS}
                for _ in range(args.rounds):
                    for revision in REVISIONS:
                        figures[revision].append(pairs(revision, args.pairs))
                print(f"load average after:  {os.getloadavg()}")
                for revision, values in figures.items():
                    runs = ", ".join(f"{v:.2f}" for v in values)
                    print(
                        f"protocol {revision}: core CPU per list_bases + list_tables pair "
                        f"(cached): median {statistics.median(values):.2f} ms (blocks: {runs})"
                    )
        finally:
            core.terminate()
            core.wait(15)


if __name__ == "__main__":
    main()
