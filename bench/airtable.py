"""Airtable client benchmarks against the sandbox (its 5 req/s per-base limit on).

Starts throwaway PostgreSQL and Redis and core as its own process (the sandbox is mounted
in core), issues a sandbox token and generates a base, then:

    uv run python bench/airtable.py readers [--readers 200] [--seconds 30] [--records 300]
    uv run python bench/airtable.py writes  [--records 1000]
    uv run python bench/airtable.py search  [--records 1000000] [--rounds 50]

readers: concurrent readers of one table through the client and its cache; prints reads
served, upstream requests and 429s (goal: >= 100 x 5 req/s served, zero 429s).
writes: creates N records through the client (10 per request, the rate limiter pacing);
prints the time against the physical limit N / 10 / 5 s (goal: within 10 %).
search: loads N records straight into the mirror, then prints p50/p95 of search (full
text, fuzzy) and exact aggregates through the service layer (bench/airtable_mirror.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pyairtable_platform.core.airtable import (
    AirtableClient,
    AirtableConnection,
    AirtableSettings,
    UpstreamCall,
)
from pyairtable_platform.core.sandbox.admin import generate, issue_cli_token
from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.devinfra.throwaway import throwaway_infra
from pyairtable_platform.kit.redis import create_redis


@dataclass
class Sandbox:
    endpoint: str
    token: str
    base_id: str
    redis_url: str


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


@contextmanager
def sandbox(records: int) -> Iterator[Sandbox]:
    with throwaway_infra("pap_bench_airtable") as infra:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": infra.app_url,
            "REDIS_URL": infra.redis_url,
            "LOG_LEVEL": "WARNING",
            "LOG_REQUESTS": "false",
        }
        cmd = [sys.executable, "-m", "pyairtable_platform.cli", "serve", "core"]
        proc = subprocess.Popen([*cmd, "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
        try:
            wait_ready(f"http://127.0.0.1:{port}/ready", proc)
            issued = asyncio.run(issue_cli_token(infra.app_url, None, "bench"))
            workspace = str(issued.workspace_id)
            base_id = asyncio.run(generate(infra.app_url, workspace, records, "Bench"))
            yield Sandbox(
                f"http://127.0.0.1:{port}/sandbox", issued.token, base_id, infra.redis_url
            )
        finally:
            proc.terminate()
            proc.wait(15)


class Tally:
    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()

    async def __call__(self, call: UpstreamCall) -> None:
        self.statuses[str(call.status or call.error)] += 1

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


async def readers(box: Sandbox, count: int, seconds: float) -> None:
    redis = create_redis(box.redis_url, max_connections=400)
    tally = Tally()
    connection = AirtableConnection(uuid.uuid4().hex, box.token, box.endpoint)
    client = AirtableClient(redis, AirtableSettings(), connection, on_upstream_call=tally)
    served = 0
    errors: Counter[str] = Counter()
    stop = time.monotonic() + seconds

    async def reader(i: int) -> None:
        nonlocal served
        n = 0
        while time.monotonic() < stop:
            # ten distinct queries of the one table, as a crowd of readers would ask
            variant = (i + n) % 10
            try:
                await client.list_records_page(
                    box.base_id, "Items", page_size=100, max_records=10 + variant
                )
                served += 1
            except Exception as exc:
                errors[type(exc).__name__] += 1
            n += 1

    start = time.monotonic()
    await asyncio.gather(*(reader(i) for i in range(count)))
    elapsed = time.monotonic() - start
    await client.aclose()
    await redis.aclose()
    rate = served / elapsed
    print(f"readers: {count} concurrent readers of one table for {elapsed:.1f} s")
    print(f"  reads served:      {served} ({rate:.0f}/s = {rate / 5:.0f} x the 5 req/s limit)")
    print(f"  upstream requests: {tally.requests} (by status: {dict(tally.statuses)})")
    print(f"  429s seen:         {tally.statuses.get('429', 0)}")
    print(f"  errors:            {dict(errors) or 0}")


async def writes(box: Sandbox, records: int) -> None:
    redis = create_redis(box.redis_url)
    tally = Tally()
    connection = AirtableConnection(uuid.uuid4().hex, box.token, box.endpoint)
    client = AirtableClient(redis, AirtableSettings(), connection, on_upstream_call=tally)
    rows = [{"Name": f"bench {i}"} for i in range(records)]
    start = time.monotonic()
    result = await client.create_records(box.base_id, "Items", rows)
    elapsed = time.monotonic() - start
    await client.aclose()
    await redis.aclose()
    physical = records / 10 / 5
    print(f"writes: {len(result.records)} of {records} records created in {elapsed:.1f} s")
    print(f"  physical limit:    {physical:.1f} s ({records} / 10 per request / 5 per second)")
    print(f"  vs the limit:      {(elapsed / physical - 1) * 100:+.1f} %")
    print(f"  upstream requests: {tally.requests} (by status: {dict(tally.statuses)})")
    print(f"  429s seen:         {tally.statuses.get('429', 0)}; failed chunks: "
          f"{len(result.failures)}")  # fmt: skip
    for failure in result.failures:
        print(f"  failure: {failure.error.error}: {failure.error.detail}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("readers", help="concurrent cached readers of one table")
    r.add_argument("--readers", type=int, default=200)
    r.add_argument("--seconds", type=float, default=30.0)
    r.add_argument("--records", type=int, default=300)
    w = sub.add_parser("writes", help="create N records at the rate limit")
    w.add_argument("--records", type=int, default=1000)
    s = sub.add_parser("search", help="search and aggregate latency over the mirror")
    s.add_argument("--records", type=int, default=1_000_000)
    s.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    if args.command == "search":
        sys.path.insert(0, os.path.dirname(__file__))
        import airtable_mirror

        with throwaway_infra("pap_bench_mirror") as infra:
            airtable_mirror.run(infra, args.records, args.rounds)
        return
    seed = args.records if args.command == "readers" else 10
    with sandbox(seed) as box:
        if args.command == "readers":
            asyncio.run(readers(box, args.readers, args.seconds))
        else:
            asyncio.run(writes(box, args.records))


if __name__ == "__main__":
    main()
