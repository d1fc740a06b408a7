"""Login throttling in Redis, per account and per client IP, with exponential backoff.

Each failed login counts against the account and the IP for 15 minutes. Past the allowed
number of failures, every further failure locks that account (or IP) for
``base * 2^(failures - allowed)`` seconds, capped; while locked, logins are answered 429 with
``Retry-After`` before any password is checked. A successful login clears the account's
count. Counters are shared by every core process.
"""

from __future__ import annotations

import contextlib
import hashlib

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pyairtable_platform.kit.errors import RateLimited, ServiceUnavailable

WINDOW_SECONDS = 900


class LoginThrottle:
    def __init__(
        self,
        redis: Redis,
        *,
        max_per_account: int,
        max_per_ip: int,
        base_seconds: float,
        max_seconds: float,
    ) -> None:
        self.redis = redis
        self.limits = {"acct": max_per_account, "ip": max_per_ip}
        self.base_seconds = base_seconds
        self.max_seconds = max_seconds

    @staticmethod
    def _subjects(email: str, ip: str | None) -> list[tuple[str, str]]:
        subjects = [("acct", hashlib.sha256(email.lower().encode()).hexdigest()[:32])]
        if ip:
            subjects.append(("ip", ip))
        return subjects

    async def check(self, email: str, ip: str | None) -> None:
        """429 while the account or the IP is locked out."""
        try:
            for kind, subject in self._subjects(email, ip):
                remaining_ms = await self.redis.pttl(f"pap:auth:login:{kind}:{subject}:lock")
                if remaining_ms and remaining_ms > 0:
                    raise RateLimited(
                        "too many failed sign-in attempts; try again later",
                        retry_after=remaining_ms / 1000,
                    )
        except RedisError as exc:
            raise ServiceUnavailable("sign-in is unavailable: the session store is down") from exc

    async def failed(self, email: str, ip: str | None) -> None:
        try:
            for kind, subject in self._subjects(email, ip):
                counter = f"pap:auth:login:{kind}:{subject}:failures"
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.incr(counter)
                    pipe.expire(counter, WINDOW_SECONDS)
                    failures = int((await pipe.execute())[0])
                over = failures - self.limits[kind]
                if over >= 0:
                    seconds = min(self.max_seconds, self.base_seconds * (2**over))
                    await self.redis.set(
                        f"pap:auth:login:{kind}:{subject}:lock",
                        b"1",
                        px=max(1, int(seconds * 1000)),
                    )
        except RedisError as exc:
            raise ServiceUnavailable("sign-in is unavailable: the session store is down") from exc

    async def succeeded(self, email: str) -> None:
        kind, subject = self._subjects(email, None)[0]
        with contextlib.suppress(RedisError):
            await self.redis.delete(f"pap:auth:login:{kind}:{subject}:failures")
