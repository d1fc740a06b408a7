"""The sandbox's own personal access tokens: ``pat`` + 14 characters, a dot, a secret.

Only a SHA-256 of the whole token is stored; the token is shown once, when issued.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.kit.security import random_token, sha256_hex

from .ids import new_id
from .repository import SandboxRepository, TokenIdentity


@dataclass(frozen=True)
class IssuedToken:
    id: uuid.UUID
    token: str
    name: str
    workspace_id: uuid.UUID
    airtable_user_id: str


def hash_token(token: str) -> str:
    return sha256_hex(token)


async def issue_token(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    name: str = "Sandbox token",
    user_id: uuid.UUID | None = None,
) -> IssuedToken:
    """Create a token for ``workspace_id``; the session must carry that tenant context."""
    token = f"{new_id('pat')}.{random_token(32)}"
    airtable_user_id = new_id("usr")
    token_id = await SandboxRepository(session, workspace_id).insert_token(
        token_hash=hash_token(token), name=name, airtable_user_id=airtable_user_id, user_id=user_id
    )
    return IssuedToken(token_id, token, name, workspace_id, airtable_user_id)


async def identify(session: AsyncSession, token: str) -> TokenIdentity | None:
    """The token's identity (before any tenant context exists), or None if unknown/revoked."""
    return await SandboxRepository.token_identity(session, hash_token(token))
