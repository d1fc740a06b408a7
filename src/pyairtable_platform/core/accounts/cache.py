"""The profile answer of ``GET /api/v1/users/me``, cached in Redis per user.

A profile is read on nearly every page load and changes rarely, so the rendered JSON is
kept for :data:`PROFILE_CACHE_SECONDS` and a hit costs no database transaction. Every
change to a field the answer shows invalidates the entry after its commit
(:func:`invalidate`). The invalidation writes a short-lived marker instead of deleting,
and fills only write absent entries: a request that read the old row just before the
commit can then not put it back.
"""

from __future__ import annotations

import contextlib
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pyairtable_platform.kit.auth import Identity

PROFILE_CACHE_SECONDS = 60
# Longer than any read-then-fill can take; shorter than anyone would notice the misses.
_INVALIDATED_SECONDS = 5
_INVALIDATED = b"-"


def _key(user_id: uuid.UUID) -> str:
    return f"pap:accounts:me:{user_id}"


def keys_for(identity: Identity) -> list[str]:
    """The entry to read along with the caller's revocation check (one Redis round trip)."""
    return [_key(identity.user_id)]


def profile(value: object) -> bytes | None:
    """The cached profile JSON in a value read from :func:`keys_for`'s key, or ``None``
    (absent or just invalidated: the caller reads the database, which stays
    authoritative)."""
    # The client is built with decode_responses=False: values are bytes.
    return value if isinstance(value, bytes) and value != _INVALIDATED else None


async def fill(redis: Redis, user_id: uuid.UUID, body: bytes) -> None:
    with contextlib.suppress(RedisError):
        await redis.set(_key(user_id), body, ex=PROFILE_CACHE_SECONDS, nx=True)


async def invalidate(redis: Redis, user_id: uuid.UUID) -> None:
    await redis.set(_key(user_id), _INVALIDATED, ex=_INVALIDATED_SECONDS)
