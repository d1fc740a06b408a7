"""The shared Redis rate limiter: Airtable's per-base and per-token limits hold across
processes, measured from the grant timestamps the limiter takes from Redis server time."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from typing import Any

import pytest
from redis.asyncio import Redis

from pyairtable_platform.core.airtable import AirtableSettings, RateLimiter
from pyairtable_platform.core.airtable.exceptions import AirtableBusy
from pyairtable_platform.core.airtable.ratelimit import token_fingerprint
from pyairtable_platform.devinfra.throwaway import Infra

SECOND_US = 1_000_000


def most_in_any_window(times_us: list[int], window_us: int = SECOND_US) -> int:
    """The most timestamps that fall within any half-open window of ``window_us``."""
    times = sorted(times_us)
    most, j = 0, 0
    for i, start in enumerate(times):
        j = max(j, i)
        while j < len(times) and times[j] < start + window_us:
            j += 1
        most = max(most, j - i)
    return most


async def server_time_us(redis: Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * SECOND_US + int(micros)


async def test_fifty_callers_in_two_processes_never_start_six_requests_in_one_second(
    redis: Redis, infra: Infra, worker: Any
) -> None:
    base, token = f"app{uuid.uuid4().hex[:14]}", token_fingerprint(uuid.uuid4().hex)
    other = worker("acquire", infra.redis_url, base, token, "25")
    assert await other.expect() == "ready"
    limiter = RateLimiter(redis)
    other.send("go")
    grants = await asyncio.gather(*(limiter.acquire(base, token) for _ in range(25)))
    theirs = await other.expect()
    times = [g.granted_us for g in grants] + [t for _, t in theirs]
    assert len(times) == 50
    assert most_in_any_window(times) <= 5
    assert len(theirs) == 25  # the other process's callers were all served too


async def test_one_token_gets_at_most_fifty_requests_per_second_across_bases(
    redis: Redis, infra: Infra, worker: Any
) -> None:
    token = token_fingerprint(uuid.uuid4().hex)
    bases = [f"app{uuid.uuid4().hex[:14]}" for _ in range(14)]  # 14 x 5/s = 70/s > 50/s
    other = worker("acquire", infra.redis_url, ",".join(bases), token, "70")
    assert await other.expect() == "ready"
    limiter = RateLimiter(redis)
    other.send("go")
    mine = await asyncio.gather(*(limiter.acquire(bases[i % len(bases)], token) for i in range(70)))
    theirs = await other.expect()
    per_base: dict[str, list[int]] = defaultdict(list)
    for grant in mine:
        per_base[grant.base_id].append(grant.granted_us)
    for base, t in theirs:
        per_base[base].append(t)
    everything = [t for times in per_base.values() for t in times]
    assert len(everything) == 140
    assert most_in_any_window(everything) <= 50
    assert max(most_in_any_window(times) for times in per_base.values()) <= 5


async def test_a_paused_base_grants_nothing_until_the_pause_ends(redis: Redis) -> None:
    base, token = f"app{uuid.uuid4().hex[:14]}", token_fingerprint("t")
    limiter = RateLimiter(redis)
    before = await server_time_us(redis)
    assert await limiter.pause(base, 2.0) > 1.5
    # Other bases are not affected.
    other = await limiter.acquire(f"app{uuid.uuid4().hex[:14]}", token)
    assert other.granted_us < before + 2 * SECOND_US
    grants = await asyncio.gather(*(limiter.acquire(base, token) for _ in range(3)))
    assert min(g.granted_us for g in grants) >= before + 2 * SECOND_US


async def test_the_default_pause_is_thirty_seconds_and_is_never_shortened(redis: Redis) -> None:
    assert AirtableSettings().pause_seconds == 30
    limiter = RateLimiter(redis)
    base = f"app{uuid.uuid4().hex[:14]}"
    assert 29 < await limiter.pause(base) <= 30
    assert 29 < await limiter.pause(base, 2.0) <= 30
    assert 29 < await limiter.paused_for(base) <= 30


async def test_a_caller_gets_airtable_busy_when_the_pause_outlasts_its_wait(
    redis: Redis,
) -> None:
    limiter = RateLimiter(redis, max_wait_seconds=1.0)
    base = f"app{uuid.uuid4().hex[:14]}"
    await limiter.pause(base, 10.0)
    with pytest.raises(AirtableBusy) as caught:
        await limiter.acquire(base, token_fingerprint("t"))
    assert caught.value.status_code == 503
    assert caught.value.error == "airtable_busy"
    assert int(caught.value.headers["Retry-After"]) >= 9


async def test_a_caller_waiting_longer_than_its_bound_gets_airtable_busy(redis: Redis) -> None:
    limiter = RateLimiter(redis, max_wait_seconds=0.3)
    base, token = f"app{uuid.uuid4().hex[:14]}", token_fingerprint("t")
    results = await asyncio.gather(
        *(limiter.acquire(base, token) for _ in range(8)), return_exceptions=True
    )
    busy = [r for r in results if isinstance(r, AirtableBusy)]
    # Paced 210 ms apart, only the first few fit in 0.3 s; the rest were told to retry.
    assert 1 <= 8 - len(busy) <= 3
    assert "try again" in busy[0].detail


async def test_waiters_are_served_in_the_order_they_arrived(redis: Redis) -> None:
    limiter = RateLimiter(redis)
    base, token = f"app{uuid.uuid4().hex[:14]}", token_fingerprint("t")
    for _ in range(5):  # fill the window
        await limiter.acquire(base, token)
    order: list[int] = []

    async def caller(i: int) -> None:
        await limiter.acquire(base, token)
        order.append(i)

    tasks = []
    for i in range(10):
        tasks.append(asyncio.create_task(caller(i)))
        # the next caller arrives once this one is queued
        async with asyncio.timeout(5):
            while await redis.zcard(f"pap:at:rl:q:{base}") < i + 1:  # noqa: ASYNC110 - state is in Redis
                await asyncio.sleep(0.001)
    await asyncio.gather(*tasks)
    # Slots free five at a time; each batch goes to the five who waited longest.
    assert set(order[:5]) == {0, 1, 2, 3, 4}
    assert set(order[5:]) == {5, 6, 7, 8, 9}
