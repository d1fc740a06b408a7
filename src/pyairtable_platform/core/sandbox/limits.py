"""Rate limits and fault injection, both kept in Redis so every core process shares them.

Rate limits count requests in one-second windows: 5 per base and 50 per token by default,
as Airtable enforces. Airtable then blocks for 30 s; the sandbox blocks only for
``penalty_seconds`` (0 by default) so that clients' short 429 retries, such as
pyairtable's ~3 s of backoff, can succeed in tests.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from .exceptions import AirtableError, RateLimitReached, invalid_request

_PREFIX = "sbx"


@dataclass(frozen=True)
class RateLimits:
    enabled: bool = True
    per_base: int = 5
    per_token: int = 50
    penalty_seconds: float = 0.0


async def check_rate(redis: Redis, limits: RateLimits, token_id: str, base_id: str | None) -> None:
    """Count this request; raise 429 when the token or the base went over its limit."""
    if not limits.enabled:
        return
    window = int(time.time())
    subjects = [("token", token_id, limits.per_token)]
    if base_id:
        subjects.append(("base", base_id, limits.per_base))
    if limits.penalty_seconds > 0:
        blocked = await redis.exists(*(f"{_PREFIX}:pen:{k}:{v}" for k, v, _ in subjects))
        if blocked:
            raise RateLimitReached()
    pipe = redis.pipeline(transaction=False)
    for kind, value, _ in subjects:
        key = f"{_PREFIX}:rl:{kind}:{value}:{window}"
        pipe.incr(key)
        pipe.expire(key, 2)
    counts = (await pipe.execute())[::2]
    for (kind, value, limit), count in zip(subjects, counts, strict=True):
        if int(count) > limit:
            if limits.penalty_seconds > 0:
                await redis.set(
                    f"{_PREFIX}:pen:{kind}:{value}", b"1", px=int(limits.penalty_seconds * 1000)
                )
            raise RateLimitReached()


@dataclass(frozen=True)
class Fault:
    latency_ms: int = 0
    status: int | None = None
    drop: bool = False
    count: int | None = None

    def json(self) -> dict[str, Any]:
        return {
            "latencyMs": self.latency_ms,
            "status": self.status,
            "drop": self.drop,
            "count": self.count,
        }


FAULT_STATUSES = frozenset({429, 500, 502, 503, 504})


def parse_fault(body: dict[str, Any]) -> Fault:
    latency = body.get("latencyMs", 0)
    status = body.get("status")
    count = body.get("count")
    drop = body.get("drop", False)
    if not isinstance(latency, int) or not 0 <= latency <= 30_000:
        raise invalid_request("latencyMs must be an integer from 0 to 30000")
    if status is not None and status not in FAULT_STATUSES:
        raise invalid_request(f"status must be one of {sorted(FAULT_STATUSES)}")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise invalid_request("count must be a positive integer")
    if not isinstance(drop, bool):
        raise invalid_request("drop must be true or false")
    if status is not None and drop:
        raise invalid_request("choose either status or drop")
    return Fault(latency_ms=latency, status=status, drop=drop, count=count)


def fault_key(kind: str, subject: str) -> str:
    return f"{_PREFIX}:fault:{kind}:{subject}"


async def set_fault(redis: Redis, key: str, fault: Fault, ttl_seconds: int) -> None:
    pipe = redis.pipeline(transaction=True)
    pipe.set(key, orjson.dumps(fault.json()), ex=ttl_seconds)
    if fault.count is not None:
        pipe.set(key + ":left", fault.count, ex=ttl_seconds)
    else:
        pipe.delete(key + ":left")
    await pipe.execute()


async def get_fault(redis: Redis, key: str) -> Fault | None:
    raw = await redis.get(key)
    if raw is None:
        return None
    data = orjson.loads(raw)
    return Fault(
        latency_ms=int(data.get("latencyMs") or 0),
        status=data.get("status"),
        drop=bool(data.get("drop")),
        count=data.get("count"),
    )


async def clear_fault(redis: Redis, key: str) -> None:
    await redis.delete(key, key + ":left")


async def claim(redis: Redis, key: str, fault: Fault) -> bool:
    """Whether this request takes the fault's status/drop (``count`` requests at most)."""
    if fault.status is None and not fault.drop:
        return False
    if fault.count is None:
        return True
    left = await redis.decr(key + ":left")
    return int(left) >= 0


def fault_error(status: int) -> AirtableError:
    if status == 429:
        return RateLimitReached()
    kinds = {
        500: "SERVER_ERROR",
        502: "BAD_GATEWAY",
        503: "SERVICE_UNAVAILABLE",
        504: "GATEWAY_TIMEOUT",
    }
    return AirtableError(status, kinds.get(status, "SERVER_ERROR"), "Injected fault (sandbox)")


def ttl_seconds(body: dict[str, Any]) -> int:
    ttl = body.get("ttlSeconds", 600)
    if not isinstance(ttl, int | float) or not 1 <= ttl <= 86_400:
        raise invalid_request("ttlSeconds must be from 1 to 86400")
    return math.ceil(ttl)
