"""One rate limiter for all Airtable traffic of the deployment, kept in Redis.

Airtable allows 5 requests per second per base and 50 per second per token, and answers
a burst with 429 and a 30-second penalty. Every process and replica asks this limiter
before each upstream request, so the limits hold for the deployment as a whole.

Scheme: a sliding-window log per base and per token (ZSETs of grant times, Redis server
time in microseconds). A grant is recorded only when fewer than ``limit`` grants lie in the
last ``window`` (1 s + a safety margin), so no six grants for one base ever fall within one
window — at the boundary too, unlike a fixed-window counter or a token bucket whose burst
can straddle two of Airtable's seconds. Grants are also paced ``window / limit`` apart:
a burst of five requests in flight together meets uneven delays on the way (and in
Airtable's own queue), which can squeeze them into another second than they were granted
in; evenly spaced requests arrive as evenly as they left. Both limits are checked and
recorded in one Lua script, atomically, with ``TIME`` read inside it so host clocks never
matter.

Waiters queue in a ZSET ordered by when they first asked; only the first ``free`` waiters
may take free slots, so callers are served roughly in arrival order and nobody starves.
Each waiter heartbeats on every attempt; a waiter that stops asking (its process died) is
dropped after ``stale`` so it cannot block the queue.

After a 429, :meth:`RateLimiter.pause` sets a per-base key with a TTL; while it exists the
script grants nothing for that base.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis

from pyairtable_platform.core.airtable.exceptions import AirtableBusy
from pyairtable_platform.core.airtable.metrics import LIMITER_WAIT

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local base_limit = tonumber(ARGV[1])
local token_limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local id = ARGV[4]
local enq = tonumber(ARGV[5])
if enq == 0 then enq = now end
local stale = tonumber(ARGV[6])
local max_sleep = tonumber(ARGV[7])
local keep_ms = math.ceil((window + stale) / 1000) + 1000

local dead = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now - stale, 'LIMIT', 0, 100)
if #dead > 0 then
  redis.call('ZREM', KEYS[5], unpack(dead))
  redis.call('ZREM', KEYS[4], unpack(dead))
end
redis.call('ZADD', KEYS[4], enq, id)
redis.call('ZADD', KEYS[5], now, id)
redis.call('PEXPIRE', KEYS[4], keep_ms)
redis.call('PEXPIRE', KEYS[5], keep_ms)

local pause = redis.call('PTTL', KEYS[3])
if pause > 0 then
  return {0, math.min(pause * 1000, max_sleep), now, enq, pause * 1000}
end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
local base_count = redis.call('ZCARD', KEYS[1])
local token_count = redis.call('ZCARD', KEYS[2])
local rank = redis.call('ZRANK', KEYS[4], id)
local free = base_limit - base_count

-- pacing: grants are spread over the window, never fired as one burst
local base_gap = math.floor(window / base_limit)
local token_gap = math.floor(window / token_limit)
local pace_wait = 0
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last > 0 then pace_wait = math.max(pace_wait, tonumber(last[2]) + base_gap - now) end
last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if #last > 0 then pace_wait = math.max(pace_wait, tonumber(last[2]) + token_gap - now) end

if rank < free and token_count < token_limit and pace_wait <= 0 then
  redis.call('ZADD', KEYS[1], now, id)
  redis.call('ZADD', KEYS[2], now, id)
  redis.call('PEXPIRE', KEYS[1], keep_ms)
  redis.call('PEXPIRE', KEYS[2], keep_ms)
  redis.call('ZREM', KEYS[4], id)
  redis.call('ZREM', KEYS[5], id)
  return {1, 0, now, enq, 0}
end

local wait = math.max(1000, pace_wait + rank * base_gap)
if rank >= free and base_count > 0 then
  -- slots freeing before mine: the waiters ahead of me beyond the free slots
  local k = rank - math.max(free, 0)
  local cycles = math.floor(k / base_limit)
  local pos = math.min(k % base_limit, base_count - 1)
  local entry = redis.call('ZRANGE', KEYS[1], pos, pos, 'WITHSCORES')
  wait = math.max(wait, tonumber(entry[2]) + window - now + cycles * window)
end
if token_count >= token_limit then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + window - now)
end
return {0, math.max(1000, math.min(wait, max_sleep)), now, enq, 0}
"""

_PAUSE = """
local ms = tonumber(ARGV[1])
local current = redis.call('PTTL', KEYS[1])
if current < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
end
return redis.call('PTTL', KEYS[1])
"""

_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 0
"""

# Waiters heartbeat at least this often; a waiter silent for _STALE_US is forgotten.
_MAX_SLEEP_US = 500_000
_STALE_US = 3_000_000
# Pseudo-base for requests that belong to no base (list bases, whoami): only the token
# limit applies to them.
NO_BASE = "-"


def token_fingerprint(token: str) -> str:
    """Keys name a token by a hash, never the token itself (Redis is not a secret store)."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Grant:
    """A granted slot: ``granted_us`` is Redis server time, ``monotonic`` the local clock
    just before the grant was requested (the conservative side for measuring freshness)."""

    base_id: str
    granted_us: int
    waited_s: float
    monotonic: float


class RateLimiter:
    def __init__(
        self,
        redis: Redis,
        *,
        per_base: int = 5,
        per_token: int = 50,
        window_ms: int = 1050,
        max_wait_seconds: float = 30.0,
        pause_seconds: float = 30.0,
        prefix: str = "pap:at:rl",
    ) -> None:
        self.redis = redis
        self.per_base = per_base
        self.per_token = per_token
        self.window_us = window_ms * 1000
        self.max_wait_seconds = max_wait_seconds
        self.pause_seconds = pause_seconds
        self.prefix = prefix
        self._acquire = redis.register_script(_ACQUIRE)
        self._pause = redis.register_script(_PAUSE)
        self._leave = redis.register_script(_LEAVE)

    def _keys(self, base_id: str, token_hash: str) -> list[str]:
        p = self.prefix
        return [
            f"{p}:log:b:{base_id}",
            f"{p}:log:t:{token_hash}",
            f"{p}:pause:{base_id}",
            f"{p}:q:{base_id}",
            f"{p}:hb:{base_id}",
        ]

    async def acquire(
        self, base_id: str | None, token_hash: str, *, max_wait: float | None = None
    ) -> Grant:
        """Wait (asynchronously) for a slot for one request to ``base_id``.

        Raises :class:`AirtableBusy` (503) when no slot comes within ``max_wait``
        seconds, or at once when the base is paused for longer than that.
        """
        base = base_id or f"{NO_BASE}{token_hash}"
        # Token-only requests compete only for the token's slots.
        per_base = self.per_base if base_id else self.per_token
        keys = self._keys(base, token_hash)
        waiter = uuid.uuid4().hex
        budget = self.max_wait_seconds if max_wait is None else max_wait
        start = time.monotonic()
        deadline = start + budget
        enqueued = 0
        granted = False
        try:
            while True:
                before = time.monotonic()
                ok, sleep_us, _now, enqueued, paused_us = await self._acquire(
                    keys=keys,
                    args=[
                        per_base,
                        self.per_token,
                        self.window_us,
                        waiter,
                        enqueued,
                        _STALE_US,
                        _MAX_SLEEP_US,
                    ],
                )
                if ok:
                    granted = True
                    waited = time.monotonic() - start
                    LIMITER_WAIT.observe(waited)
                    return Grant(base, int(_now), waited, before)
                remaining = deadline - time.monotonic()
                if paused_us and paused_us / 1e6 > remaining:
                    raise AirtableBusy(
                        f"Airtable base {base} is paused for {paused_us / 1e6:.0f} s after "
                        "Airtable answered 429 (too many requests); try again later",
                        retry_after=paused_us / 1e6,
                        extra={"base_id": base_id},
                    )
                if remaining <= 0:
                    raise AirtableBusy(
                        f"no Airtable request slot for base {base} within {budget:g} s "
                        f"(limit {self.per_base}/s per base, {self.per_token}/s per token); "
                        "try again shortly",
                        retry_after=1,
                        extra={"base_id": base_id},
                    )
                await asyncio.sleep(min(sleep_us / 1e6, remaining))
        finally:
            if not granted:
                # Leave the queue so the waiters behind do not wait for a ghost.
                await asyncio.shield(self._leave(keys=keys[3:5], args=[waiter]))

    async def pause(self, base_id: str | None, seconds: float | None = None) -> float:
        """Close ``base_id`` for everyone for ``seconds`` (default: the configured 30 s).

        Never shortens a longer pause already in place. Returns the remaining pause.
        """
        duration = self.pause_seconds if seconds is None else seconds
        key = f"{self.prefix}:pause:{base_id or NO_BASE}"
        remaining_ms = await self._pause(keys=[key], args=[max(1, int(duration * 1000))])
        return int(remaining_ms) / 1000

    async def paused_for(self, base_id: str | None) -> float:
        """Seconds left on the base's pause (0 when not paused)."""
        ms = await self.redis.pttl(f"{self.prefix}:pause:{base_id or NO_BASE}")
        return max(0, int(ms)) / 1000
