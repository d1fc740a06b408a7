"""The second OS process of the cross-process tests: it runs the same limiter or client
code against the same Redis and reports on stdout (one JSON line per message)."""

from __future__ import annotations

import asyncio
import sys

import orjson

from pyairtable_platform.core.airtable import AirtableClient, AirtableConnection, RateLimiter
from pyairtable_platform.core.airtable.config import AirtableSettings
from pyairtable_platform.kit.redis import create_redis


def say(message: object) -> None:
    sys.stdout.write(orjson.dumps(message).decode() + "\n")
    sys.stdout.flush()


async def acquire(redis_url: str, bases: list[str], token_hash: str, callers: int) -> None:
    redis = create_redis(redis_url)
    limiter = RateLimiter(redis)
    say("ready")
    await asyncio.to_thread(sys.stdin.readline)  # "go"

    async def one(i: int) -> tuple[str, int]:
        base = bases[i % len(bases)]
        grant = await limiter.acquire(base, token_hash)
        return base, grant.granted_us

    grants = await asyncio.gather(*(one(i) for i in range(callers)))
    say(grants)
    await redis.aclose()


async def read(redis_url: str, endpoint: str, connection_id: str, readers: int) -> None:
    redis = create_redis(redis_url)
    settings = AirtableSettings(singleflight_lock_ttl_seconds=1.0)
    connection = AirtableConnection(connection_id, "token", endpoint)
    client = AirtableClient(redis, settings, connection)
    say("ready")
    await asyncio.to_thread(sys.stdin.readline)  # "go"
    tasks = [asyncio.create_task(client.list_records_page("appA", "Tasks")) for _ in range(readers)]
    while not client.cache._inflight:  # noqa: ASYNC110 - polls the cache state
        await asyncio.sleep(0.005)
    say("inflight")
    pages = await asyncio.gather(*tasks)
    say([len(p["records"]) for p in pages])
    await client.aclose()
    await redis.aclose()


def main() -> None:
    mode, *args = sys.argv[1:]
    if mode == "acquire":
        redis_url, bases, token_hash, callers = args
        asyncio.run(acquire(redis_url, bases.split(","), token_hash, int(callers)))
    else:
        redis_url, endpoint, connection_id, readers = args
        asyncio.run(read(redis_url, endpoint, connection_id, int(readers)))


if __name__ == "__main__":
    main()
