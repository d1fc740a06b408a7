"""Rate limits shared by every gateway replica: GCRA in Redis, with small local leases.

GCRA (the generic cell rate algorithm) keeps one number per bucket — the theoretical
arrival time of the next request — so a check is one round trip and one small key, and it
smooths bursts the way a token bucket does. Redis's own clock is used, so replicas with
skewed clocks still agree.

A Redis round trip per request was the largest single CPU cost of a proxied request
(docs/decisions/0005-gateway.md). So a busy bucket takes a *lease*: several requests'
worth of the shared limit charged in Redis at once and spent locally for at most
``lease_seconds``; what is left when it lapses is given back. Leases start at one request
and double only while a bucket keeps exhausting them, up to ``lease_fraction`` of its
limit, so a caller at a normal pace still asks Redis every time and small limits
(``lease_fraction * limit < 2``) are exact. Leases are charged *before* they are spent, so
all replicas together never admit more than the limit; the only slack is that a leased
request counts at lease time, up to ``lease_seconds`` early — at most ``lease_fraction``
of the limit per replica.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pyairtable_platform.gateway.config import Rate

logger = logging.getLogger(__name__)

KEY_PREFIX = "pap:gw:rl:"

# KEYS[1] bucket. ARGV[1] emission interval in ms, ARGV[2] burst (the limit), ARGV[3]
# requests wanted, ARGV[4] unspent requests of an earlier lease to give back.
# Grants as many of the wanted requests as fit (at least one, or none).
# Returns {granted, remaining, retry_after_ms, reset_ms}; floats as strings because Redis
# truncates Lua numbers to integers.
_GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2]) * interval
local want = tonumber(ARGV[3])
local refund = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1])) or now
tat = tat - refund * interval
if tat < now then tat = now end
local fits = math.floor((now - tat + burst) / interval + 1e-9)
if fits > want then fits = want end
if fits < 1 then
  if refund > 0 then
    redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil(tat - now) + 1)
  end
  return {0, 0, tostring(tat + interval - burst - now), tostring(tat - now)}
end
local new_tat = tat + fits * interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1)
return {fits, math.floor((now - (new_tat - burst)) / interval), '0', tostring(new_tat - now)}
"""

# Above this many buckets, lapsed leases are swept out.
_SWEEP_AT = 10_000


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


@dataclass
class _Lease:
    size: int
    left: int
    until: float
    # What Redis said when granting: remaining after the whole lease, seconds to reset.
    remaining: int
    reset: float
    granted_at: float
    renewing: asyncio.Future[None] | None = None


class RateLimiter:
    def __init__(
        self,
        redis: Redis,
        *,
        breaker_seconds: float = 5.0,
        lease_fraction: float = 0.0,
        lease_seconds: float = 1.0,
    ) -> None:
        self._script = redis.register_script(_GCRA)
        self._breaker_seconds = breaker_seconds
        self._down_until = 0.0
        self._lease_fraction = lease_fraction
        self._lease_seconds = lease_seconds
        self._leases: dict[str, _Lease] = {}

    async def hit(self, bucket: str, rate: Rate) -> Decision:
        """Count one request against ``bucket``; raises RateLimiterUnavailable when Redis is
        down (and, for a few seconds after a failure, without asking it again so a dead
        Redis does not add a connect attempt to every request)."""
        ceiling = int(rate.limit * self._lease_fraction)
        if ceiling < 2 or self._lease_seconds <= 0:
            _, decision = await self._ask(bucket, rate, 1, 0)
            return decision
        while True:
            now = time.monotonic()
            lease = self._leases.get(bucket)
            if lease is not None:
                if lease.left > 0 and now < lease.until:
                    lease.left -= 1
                    spent = now - lease.granted_at
                    return Decision(
                        True, rate, lease.remaining + lease.left, 0.0, max(0.0, lease.reset - spent)
                    )
                if lease.renewing is not None:
                    # One renewal per bucket at a time; the others wait for its lease.
                    await asyncio.shield(lease.renewing)
                    continue
            return await self._renew(bucket, rate, lease, ceiling, now)

    async def _renew(
        self, bucket: str, rate: Rate, lease: _Lease | None, ceiling: int, now: float
    ) -> Decision:
        if lease is None:
            size, refund = 1, 0
            if len(self._leases) >= _SWEEP_AT:
                self._sweep(now)
            lease = self._leases[bucket] = _Lease(0, 0, 0.0, 0, 0.0, now)
        else:
            used = lease.size - lease.left
            # Exhausted before it lapsed: the bucket is busy, double; else size to its pace.
            busy = lease.left == 0 and now < lease.until
            size = min(ceiling, max(1, used * 2 if busy else used))
            refund = lease.left
        lease.renewing = asyncio.get_running_loop().create_future()
        try:
            granted, decision = await self._ask(bucket, rate, size, refund)
        except BaseException:
            lease.left = 0  # given back or not, it is not ours to spend any more
            raise
        finally:
            lease.renewing.set_result(None)
            lease.renewing = None
        now = time.monotonic()
        lease.size = granted
        # This request takes the first of the granted requests.
        lease.left = max(0, granted - 1)
        lease.until = now + self._lease_seconds
        lease.remaining = decision.remaining
        lease.reset = decision.reset
        lease.granted_at = now
        if granted == 0:
            return decision
        return Decision(True, rate, decision.remaining + lease.left, 0.0, decision.reset)

    def _sweep(self, now: float) -> None:
        lapsed = [k for k, v in self._leases.items() if now >= v.until and v.renewing is None]
        for key in lapsed:
            del self._leases[key]

    async def _ask(self, bucket: str, rate: Rate, want: int, refund: int) -> tuple[int, Decision]:
        if self._down_until and time.monotonic() < self._down_until:
            raise RateLimiterUnavailable("rate limiter recently unreachable")
        interval_ms = rate.period * 1000 / rate.limit
        try:
            granted, remaining, retry_ms, reset_ms = await self._script(
                keys=[KEY_PREFIX + bucket], args=[repr(interval_ms), rate.limit, want, refund]
            )
        except RedisError as exc:
            self._down_until = time.monotonic() + self._breaker_seconds
            logger.warning("rate limiter unavailable: %s: %s", type(exc).__name__, exc)
            raise RateLimiterUnavailable(str(exc)) from exc
        self._down_until = 0.0
        decision = Decision(
            allowed=int(granted) > 0,
            rate=rate,
            remaining=int(remaining),
            retry_after=float(retry_ms) / 1000,
            reset=float(reset_ms) / 1000,
        )
        return int(granted), decision
