"""Access tokens: short-lived EdDSA JWTs signed by core, and their revocation counters.

Claims (the contract the gateway and ai verify against, see ``kit.auth``): ``iss``,
``aud``, ``sub`` (user), ``wid`` (active workspace or null), ``role`` (role in ``wid``),
``jti``, ``iat``, ``exp``, ``typ="access"``. Core adds ``sid`` (the refresh-token family,
i.e. the sign-in session), ``adm`` (platform admin) and ``uv``/``mv`` (revocation counters).

Revocation without a database read per request: Redis holds a counter per user
(``pap:auth:uv:{user}``, bumped on deactivation and password reset) and per membership
(``pap:auth:mv:{user}:{workspace}``, bumped on role change and removal). A token carries the
counters as they were when it was issued; core rejects a token whose counter is behind. The
counters never expire, so a bump can never be undone by a key that expired and restarted
at zero. The gateway does not check them: it rejects early, core decides.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from redis.asyncio import Redis
from redis.exceptions import RedisError

from pyairtable_platform.core.auth.keys import SigningKeyRing
from pyairtable_platform.kit.auth import ACCESS_TOKEN_TYPE, AUDIENCE, ISSUER
from pyairtable_platform.kit.errors import ServiceUnavailable, Unauthorized


def _user_counter(user_id: uuid.UUID) -> str:
    return f"pap:auth:uv:{user_id}"


def _membership_counter(user_id: uuid.UUID, workspace_id: uuid.UUID) -> str:
    return f"pap:auth:mv:{user_id}:{workspace_id}"


def _denied_jti(jti: str) -> str:
    return f"pap:auth:jti:{jti}"


@dataclass(frozen=True)
class AccessToken:
    token: str
    jti: str
    expires_in: int


class Revocations:
    """The Redis side of access-token revocation."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def counters(self, user_id: uuid.UUID, workspace_id: uuid.UUID | None) -> tuple[int, int]:
        keys = [_user_counter(user_id)]
        if workspace_id is not None:
            keys.append(_membership_counter(user_id, workspace_id))
        try:
            values = await self.redis.mget(keys)
        except RedisError as exc:
            raise ServiceUnavailable("session store unavailable") from exc
        user = int(values[0] or 0)
        membership = int(values[1] or 0) if len(values) > 1 else 0
        return user, membership

    async def check(self, claims: dict[str, Any], also: Sequence[str] = ()) -> list[Any]:
        """:class:`Unauthorized` if the token was revoked since it was issued.

        ``also`` names more keys to read in the same round trip (a handler's cache entry);
        their values are returned in order."""
        user_id = uuid.UUID(str(claims["sub"]))
        wid = claims.get("wid")
        keys = [_denied_jti(str(claims["jti"])), _user_counter(user_id)]
        if wid:
            keys.append(_membership_counter(user_id, uuid.UUID(str(wid))))
        counted = len(keys)
        try:
            values = await self.redis.mget([*keys, *also])
        except RedisError as exc:
            raise ServiceUnavailable("session store unavailable") from exc
        extras: list[Any] = values[counted:]
        if values[0] is not None:
            raise Unauthorized("access token was revoked (signed out)")
        if int(values[1] or 0) > int(claims.get("uv", 0)):
            raise Unauthorized("access token was revoked; sign in again")
        if wid and int(values[2] or 0) > int(claims.get("mv", 0)):
            raise Unauthorized("your access to this workspace changed; refresh the token")
        return extras

    async def revoke_user(self, user_id: uuid.UUID) -> None:
        await self.redis.incr(_user_counter(user_id))

    async def revoke_membership(self, user_id: uuid.UUID, workspace_id: uuid.UUID) -> None:
        await self.redis.incr(_membership_counter(user_id, workspace_id))

    async def deny(self, jti: str, seconds: int) -> None:
        await self.redis.set(_denied_jti(jti), b"1", ex=max(1, seconds))


class TokenIssuer:
    def __init__(self, keys: SigningKeyRing, revocations: Revocations, ttl_seconds: int) -> None:
        self.keys = keys
        self.revocations = revocations
        self.ttl_seconds = ttl_seconds

    async def access_token(
        self,
        *,
        user_id: uuid.UUID,
        workspace_id: uuid.UUID | None,
        role: str | None,
        session_id: uuid.UUID | None,
        is_platform_admin: bool = False,
    ) -> AccessToken:
        user_counter, membership_counter = await self.revocations.counters(user_id, workspace_id)
        now = int(time.time())
        jti = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "wid": str(workspace_id) if workspace_id else None,
            "role": role if workspace_id else None,
            "jti": jti,
            "iat": now,
            "exp": now + self.ttl_seconds,
            "typ": ACCESS_TOKEN_TYPE,
            "sid": str(session_id) if session_id else None,
            "adm": is_platform_admin,
            "uv": user_counter,
            "mv": membership_counter,
        }
        signing = self.keys.signing
        token = jwt.encode(
            claims, signing.private_key, algorithm="EdDSA", headers={"kid": signing.kid}
        )
        return AccessToken(token=token, jti=jti, expires_in=self.ttl_seconds)
