"""Single-use, expiring tokens (email verification, password reset) kept in Redis.

Only the SHA-256 of a token is stored, with its expiry as the key's TTL; using a token
deletes its key, and of two concurrent uses only the one whose delete removed the key wins.
"""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis

from pyairtable_platform.kit.security import random_token, sha256_hex


def _key(purpose: str, token: str) -> str:
    return f"pap:auth:once:{purpose}:{sha256_hex(token)}"


async def issue(redis: Redis, purpose: str, payload: dict[str, Any], ttl_seconds: int) -> str:
    token = random_token(32)
    await redis.set(_key(purpose, token), orjson.dumps(payload), ex=ttl_seconds)
    return token


async def peek(redis: Redis, purpose: str, token: str) -> dict[str, Any] | None:
    raw = await redis.get(_key(purpose, token))
    if raw is None:
        return None
    data = orjson.loads(raw)
    return data if isinstance(data, dict) else None


async def consume(redis: Redis, purpose: str, token: str) -> bool:
    return bool(await redis.delete(_key(purpose, token)))
