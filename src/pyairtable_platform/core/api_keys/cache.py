"""The Redis entries the gateway and ai read to resolve API keys (``kit.auth``)."""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis

from pyairtable_platform.kit.auth import (
    API_KEY_CACHE_TTL_SECONDS,
    API_KEY_REVOKED_MARKER,
    api_key_cache_key,
)


async def mark_revoked(redis: Redis, key_hashes: Iterable[str]) -> None:
    """Replace the entries with a revoked marker; cache fills only write absent entries,
    so a request racing the revocation cannot put the key back for a minute."""
    hashes = list(key_hashes)
    if not hashes:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for key_hash in hashes:
            pipe.set(
                api_key_cache_key(key_hash), API_KEY_REVOKED_MARKER, ex=API_KEY_CACHE_TTL_SECONDS
            )
        await pipe.execute()


async def forget(redis: Redis, key_hashes: Iterable[str]) -> None:
    """Drop the entries: the next request re-reads the key (its role changed, say)."""
    names = [api_key_cache_key(h) for h in key_hashes]
    if names:
        await redis.delete(*names)
