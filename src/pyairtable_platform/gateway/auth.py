"""Credential checks at the edge: reject early, and know whom to rate-limit.

The gateway is not the last word (core and ai verify again: zero trust), so it may keep a
short-lived in-process memory of access tokens it has already verified — signature
checking is the largest CPU cost of a proxied request. API keys are never remembered
locally: core revokes them by deleting their Redis entry, and a revoked key must fail on
the very next request.
"""

from __future__ import annotations

from typing import Any

import httpx
from redis.asyncio import Redis

from pyairtable_platform.kit.auth import (
    Identity,
    JWKSCache,
    TokenMemory,
    decode_access_token,
    extract_credential,
    identity_from_claims,
    resolve_api_key,
)
from pyairtable_platform.kit.errors import Unauthorized

__all__ = ["Authenticator", "Identity"]

_CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-api-key"})


class Authenticator:
    def __init__(
        self,
        *,
        core_url: str,
        http: httpx.AsyncClient,
        redis: Redis,
        token_cache_seconds: float,
        token_cache_size: int,
    ) -> None:
        self.core_url = core_url.rstrip("/")
        self.http = http
        self.redis = redis
        self.jwks = JWKSCache(http, self.core_url)
        self.tokens: TokenMemory[Identity] = TokenMemory(token_cache_seconds, token_cache_size)

    async def authenticate(self, headers: list[tuple[bytes, bytes]]) -> Identity:
        """The verified identity of a request, or :class:`Unauthorized`."""
        found = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in headers
            if name in _CREDENTIAL_HEADERS
        }
        credential = extract_credential(found) if found else None
        if credential is None:
            raise Unauthorized("authentication required: send 'Authorization: Bearer <token>'")
        kind, value = credential
        if kind == "api_key":
            return await resolve_api_key(value, self.redis, self.http, self.core_url)
        identity = self.tokens.get(value)
        if identity is not None:
            return identity
        claims: dict[str, Any] = await decode_access_token(value, self.jwks)
        identity = identity_from_claims(claims)
        self.tokens.put(value, identity, float(claims["exp"]))
        return identity
