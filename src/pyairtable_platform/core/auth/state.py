"""What the auth machinery of core needs at run time, built once in the app lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.core.accounts.mail import MailSender, create_mail_sender
from pyairtable_platform.core.auth.keys import SigningKeyRing
from pyairtable_platform.core.auth.tokens import Revocations, TokenIssuer
from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.kit.app import Resources
from pyairtable_platform.kit.auth import (
    Identity,
    JWKSCache,
    decode_access_token,
    identity_from_claims,
)
from pyairtable_platform.kit.crypto import SecretBox

# The Redis keys a handler wants read along with the revocation check, given the caller.
KeysFor = Callable[[Identity], Sequence[str]]


@dataclass
class AuthState:
    settings: CoreSettings
    keys: SigningKeyRing
    jwks: JWKSCache
    revocations: Revocations
    issuer: TokenIssuer
    redis: Redis
    factory: async_sessionmaker[AsyncSession]
    mail: MailSender
    secrets: SecretBox

    async def verify_access_token(self, token: str) -> tuple[Identity, dict[str, Any]]:
        """Signature, claims and revocation; the identity and the raw claims."""
        identity, claims = await self._verified(token)
        await self.revocations.check(claims)
        return identity, claims

    async def verify_access_token_and_read(
        self, token: str, keys_for: KeysFor
    ) -> tuple[Identity, dict[str, Any], list[Any]]:
        """:meth:`verify_access_token`, also reading ``keys_for(identity)`` from Redis in
        the revocation check's round trip; their values come third."""
        identity, claims = await self._verified(token)
        values = await self.revocations.check(claims, also=keys_for(identity))
        return identity, claims, values

    async def _verified(self, token: str) -> tuple[Identity, dict[str, Any]]:
        # Signature and claims checks are remembered by the key set (``jwks.verified``, until
        # the token's exp); revocation is checked on every request by the callers above.
        claims = await decode_access_token(token, self.jwks)
        return identity_from_claims(claims), claims


def build_auth_state(settings: CoreSettings, resources: Resources) -> AuthState:
    assert resources.session_factory is not None, "core always has a database"
    keys = settings.signing_keys()
    # Core verifies its own tokens from its own key ring: no HTTP round trip to itself.
    jwks = JWKSCache(None, None)
    jwks.load(keys.jwks())
    revocations = Revocations(resources.redis)
    return AuthState(
        settings=settings,
        keys=keys,
        jwks=jwks,
        revocations=revocations,
        issuer=TokenIssuer(keys, revocations, settings.access_token_ttl_seconds),
        redis=resources.redis,
        factory=resources.session_factory,
        mail=create_mail_sender(settings.mail_sender, resources.redis),
        secrets=settings.secret_box(),
    )


@asynccontextmanager
async def auth_extension(app: FastAPI, resources: Resources) -> AsyncIterator[None]:
    settings = resources.settings
    assert isinstance(settings, CoreSettings)
    state = build_auth_state(settings, resources)
    resources.extras["auth"] = state
    app.state.auth = state
    yield
