"""Rate limits shared by every gateway replica: GCRA in one Redis Lua call per request.

GCRA (the generic cell rate algorithm) keeps one number per bucket — the theoretical
arrival time of the next request — so a check is one round trip and one small key, and it
smooths bursts the way a token bucket does. Redis's own clock is used, so replicas with
skewed clocks still agree.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pyairtable_platform.gateway.config import Rate

logger = logging.getLogger(__name__)

KEY_PREFIX = "pap:gw:rl:"

# KEYS[1] bucket. ARGV[1] emission interval in ms, ARGV[2] burst (the limit).
# Returns {allowed, remaining, retry_after_ms, reset_ms}; floats as strings because Redis
# truncates Lua numbers to integers.
_GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2]) * interval
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst
if now < allow_at then
  return {0, 0, tostring(allow_at - now), tostring(tat - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1)
return {1, math.floor((now - allow_at) / interval), '0', tostring(new_tat - now)}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rate: Rate
    remaining: int
    retry_after: float
    reset: float

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-limit", str(self.rate.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(max(0, math.ceil(self.reset))).encode()),
            (b"ratelimit-policy", f"{self.rate.limit};w={self.rate.period}".encode()),
        ]


class RateLimiterUnavailable(Exception):
    """Redis cannot be asked; the caller applies the fail-open/fail-closed policy."""


class RateLimiter:
    def __init__(self, redis: Redis, *, breaker_seconds: float = 5.0) -> None:
        self._script = redis.register_script(_GCRA)
        self._breaker_seconds = breaker_seconds
        self._down_until = 0.0

    async def hit(self, bucket: str, rate: Rate) -> Decision:
        """Count one request against ``bucket``; raises RateLimiterUnavailable when Redis is
        down (and, for a few seconds after a failure, without asking it again so a dead
        Redis does not add a connect attempt to every request)."""
        if self._down_until and time.monotonic() < self._down_until:
            raise RateLimiterUnavailable("rate limiter recently unreachable")
        interval_ms = rate.period * 1000 / rate.limit
        try:
            allowed, remaining, retry_ms, reset_ms = await self._script(
                keys=[KEY_PREFIX + bucket], args=[repr(interval_ms), rate.limit]
            )
        except RedisError as exc:
            self._down_until = time.monotonic() + self._breaker_seconds
            logger.warning("rate limiter unavailable: %s: %s", type(exc).__name__, exc)
            raise RateLimiterUnavailable(str(exc)) from exc
        self._down_until = 0.0
        return Decision(
            allowed=bool(allowed),
            rate=rate,
            remaining=int(remaining),
            retry_after=float(retry_ms) / 1000,
            reset=float(reset_ms) / 1000,
        )
