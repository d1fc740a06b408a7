"""Platform overhead of chat turns, with a fake LLM provider that answers instantly.

Starts throwaway PostgreSQL and Redis, core (with its MCP server and the sandbox demo base) and
the ai service as real HTTP servers, and the scripted OpenAI-compatible fake provider from the
tests; then runs N concurrent streamed chat turns, each calling two MCP tools (list_bases, then
list_tables on the demo base) before answering. Prints p50/p95 of:

- time to first event (request sent → ``message_start`` received),
- whole turn (request sent → ``message_end``),
- platform overhead: the whole turn minus the time spent waiting for the (instant) provider as
  the ai service measured it — i.e. our own work: auth, budgets, history, MCP tool calls
  through core to the sandbox, storage.

The servers run in threads of this process (like the test suite), so client, ai, core and fake
share one interpreter: the figures are an upper bound of what separate processes would show.

    uv run python bench/chat.py [--turns 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import httpx
import orjson

from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.devinfra.throwaway import throwaway_infra


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def one_turn(http: httpx.AsyncClient, headers: dict[str, str]) -> tuple[float, float, float]:
    started = time.perf_counter()
    first = None
    provider_ms = 0.0
    async with http.stream(
        "POST", "/api/v1/chat", json={"message": "What tables?", "stream": True}, headers=headers
    ) as response:
        response.raise_for_status()
        buffer = b""
        async for chunk in response.aiter_bytes():
            if first is None:
                first = time.perf_counter()
            buffer += chunk
        for block in buffer.split(b"\n\n"):
            if block.startswith(b"event: usage"):
                data = orjson.loads(block.split(b"data: ", 1)[1])
                provider_ms += data["latency_ms"]
            if block.startswith(b"event: message_end"):
                data = orjson.loads(block.split(b"data: ", 1)[1])
                if data["status"] != "completed":
                    raise SystemExit(f"turn failed: {data}")
    done = time.perf_counter()
    assert first is not None
    total_ms = (done - started) * 1000
    return (first - started) * 1000, total_ms, total_ms - provider_ms


async def run(turns: int) -> None:
    from tests.ai.fakes.openai_server import create_openai_app
    from tests.ai.fakes.script import Recorder, Script, ToolCall, call, text
    from tests.core.mcp.conftest import make_tenant
    from tests.support.servers import ThreadServer

    from pyairtable_platform.ai.app import create_app as create_ai
    from pyairtable_platform.ai.config import AiSettings
    from pyairtable_platform.core.app import create_app as create_core
    from pyairtable_platform.core.config import CoreSettings

    with throwaway_infra("pap_bench_chat") as infra:
        os.environ.update(
            {
                "ENVIRONMENT": "test",
                "DATABASE_URL": infra.app_url,
                "REDIS_URL": infra.redis_url,
                "LOG_LEVEL": "WARNING",
                "LOG_REQUESTS": "false",
            }
        )
        port = free_port()
        script = Script()
        with (
            ThreadServer(create_core(CoreSettings(port=port, db_pool_size=20)), port=port) as core,
            ThreadServer(create_openai_app(script, Recorder())) as fake,
        ):
            tenant = await make_tenant(core.url, infra.app_url)
            script.steps = [
                call(ToolCall("list_bases")),
                call(ToolCall("list_tables", {"base_id": tenant.base_id, "detail": "ids"})),
                text("Your base has several tables."),
            ]
            settings = AiSettings(
                core_url=core.url,
                llm_provider="openai-compatible",
                openai_base_url=fake.url + "/v1",
                llm_model="fake-model",
                model_prices={"fake-model": {"input": "1", "output": "4"}},
                db_pool_size=20,
            )
            with ThreadServer(create_ai(settings)) as ai:
                headers = {"Authorization": f"Bearer {tenant.access_token}"}
                limits = httpx.Limits(max_connections=turns + 10)
                async with httpx.AsyncClient(base_url=ai.url, timeout=120, limits=limits) as http:
                    await one_turn(http, headers)  # warm up pools and caches
                    started = time.perf_counter()
                    results = await asyncio.gather(*(one_turn(http, headers) for _ in range(turns)))
                    wall = time.perf_counter() - started
    first = [r[0] for r in results]
    total = [r[1] for r in results]
    overhead = [r[2] for r in results]
    print(f"chat turns: {turns} concurrent, 2 MCP tool calls each, instant fake provider")
    print(f"wall time: {wall:.2f}s ({turns / wall:.1f} turns/s)")
    for name, values in (
        ("time to first event", first),
        ("whole turn", total),
        ("platform overhead", overhead),
    ):
        print(
            f"{name:>20}: p50 {pct(values, 0.5):8.1f} ms   p95 {pct(values, 0.95):8.1f} ms"
            f"   mean {statistics.fmean(values):8.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(run(args.turns))


if __name__ == "__main__":
    main()
