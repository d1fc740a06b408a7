"""All SQL of the API keys domain. ``api_keys`` is a tenant table (RLS on workspace)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.api_keys.models import ApiKey


@dataclass(frozen=True)
class KeyLookup:
    """What the pre-authentication lookup returns (``auth_api_key_lookup``)."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    key_hash: str
    scope: str
    expires_at: datetime | None
    revoked_at: datetime | None
    user_active: bool
    is_platform_admin: bool
    email: str
    role: str | None


async def lookup_by_prefix(session: AsyncSession, prefix: str) -> KeyLookup | None:
    # SECURITY DEFINER (migration 0004): no tenant context exists before the key is checked.
    row = (
        await session.execute(text("SELECT * FROM auth_api_key_lookup(:p)"), {"p": prefix})
    ).first()
    return KeyLookup(**row._mapping) if row is not None else None


async def insert(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str,
    prefix: str,
    key_hash: str,
    scope: str,
    expires_at: datetime | None,
) -> ApiKey:
    key = ApiKey(
        workspace_id=workspace_id,
        user_id=user_id,
        name=name,
        prefix=prefix,
        key_hash=key_hash,
        scope=scope,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    await session.refresh(key)
    return key


async def prefix_exists(session: AsyncSession, prefix: str) -> bool:
    return await lookup_by_prefix(session, prefix) is not None


async def list_for_workspace(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID | None
) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.revoked_at.is_(None))
    if user_id is not None:
        query = query.where(ApiKey.user_id == user_id)
    return list((await session.scalars(query.order_by(ApiKey.created_at.desc()))).all())


async def get(session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
    return await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.workspace_id == workspace_id)
    )


async def revoke(session: AsyncSession, key_id: uuid.UUID) -> None:
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


async def revoke_for_user(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> list[str]:
    """Revoke a user's live keys in one workspace; their hashes (to drop cache entries)."""
    result = await session.execute(
        update(ApiKey)
        .where(
            ApiKey.workspace_id == workspace_id,
            ApiKey.user_id == user_id,
            ApiKey.revoked_at.is_(None),
        )
        .values(revoked_at=func.now())
        .returning(ApiKey.key_hash)
    )
    return list(result.scalars().all())


async def hashes_for_user(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> list[str]:
    result = await session.scalars(
        select(ApiKey.key_hash).where(
            ApiKey.workspace_id == workspace_id,
            ApiKey.user_id == user_id,
            ApiKey.revoked_at.is_(None),
        )
    )
    return list(result.all())


async def hashes_for_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> list[str]:
    result = await session.scalars(
        select(ApiKey.key_hash).where(
            ApiKey.workspace_id == workspace_id, ApiKey.revoked_at.is_(None)
        )
    )
    return list(result.all())


async def touch(session: AsyncSession, key_id: uuid.UUID) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=func.now()))
