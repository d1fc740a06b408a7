"""SQL for ``ai_provider_settings`` (one row per workspace, RLS by workspace)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class ProviderRow:
    provider: str
    model: str | None
    base_url: str | None
    api_key_encrypted: str | None


async def get(session: AsyncSession, workspace_id: uuid.UUID) -> ProviderRow | None:
    result = await session.execute(
        text(
            "SELECT provider, model, base_url, api_key_encrypted FROM ai_provider_settings"
            " WHERE workspace_id = :wid"
        ),
        {"wid": workspace_id},
    )
    row = result.first()
    return ProviderRow(*row) if row else None


async def upsert(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    provider: str,
    model: str | None,
    base_url: str | None,
    api_key_encrypted: str | None,
) -> None:
    await session.execute(
        text(
            "INSERT INTO ai_provider_settings"
            " (workspace_id, provider, model, base_url, api_key_encrypted, updated_by)"
            " VALUES (:wid, :provider, :model, :base_url, :key, :uid)"
            " ON CONFLICT (workspace_id) DO UPDATE SET provider = EXCLUDED.provider,"
            " model = EXCLUDED.model, base_url = EXCLUDED.base_url,"
            " api_key_encrypted = EXCLUDED.api_key_encrypted, updated_by = EXCLUDED.updated_by"
        ),
        {
            "wid": workspace_id,
            "provider": provider,
            "model": model,
            "base_url": base_url,
            "key": api_key_encrypted,
            "uid": user_id,
        },
    )


async def delete(session: AsyncSession, workspace_id: uuid.UUID) -> bool:
    result = await session.execute(
        text("DELETE FROM ai_provider_settings WHERE workspace_id = :wid RETURNING id"),
        {"wid": workspace_id},
    )
    return result.first() is not None
