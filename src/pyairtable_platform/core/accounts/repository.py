"""All SQL of the accounts domain.

``users`` has no RLS (a global identity table touched only here); ``refresh_tokens`` is
personal (``user_id = app_current_user_id()``), so a token presented before sign-in is found
through the SECURITY DEFINER ``auth_refresh_token_lookup`` (migration 0004).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.accounts.exceptions import EmailAlreadyRegistered
from pyairtable_platform.core.accounts.models import User


@dataclass(frozen=True)
class RefreshLookup:
    id: uuid.UUID
    user_id: uuid.UUID
    family_id: uuid.UUID
    workspace_id: uuid.UUID | None
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(func.lower(User.email) == email.lower()))


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def insert_user(
    session: AsyncSession, *, user_id: uuid.UUID, email: str, password_hash: str, full_name: str
) -> User:
    user = User(
        id=user_id, email=email, password_hash=password_hash, full_name=full_name, metadata_={}
    )
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise EmailAlreadyRegistered("an account with this email already exists") from exc
    await session.refresh(user)
    return user


async def update_user(session: AsyncSession, user_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(User).where(User.id == user_id).values(**values))


async def set_password(session: AsyncSession, user_id: uuid.UUID, password_hash: str) -> None:
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(password_hash=password_hash, password_changed_at=func.now())
    )


async def set_metadata_key(session: AsyncSession, user_id: uuid.UUID, key: str, value: Any) -> None:
    await session.execute(
        text(
            "UPDATE users SET metadata = metadata || jsonb_build_object(CAST(:k AS text),"
            " CAST(:v AS text)) WHERE id = :id"
        ),
        {"k": key, "v": None if value is None else str(value), "id": user_id},
    )


# --- refresh tokens ------------------------------------------------------------------------


async def insert_refresh_token(
    session: AsyncSession,
    *,
    token_id: uuid.UUID,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    token_hash: str,
    workspace_id: uuid.UUID | None,
    expires_at: datetime,
    user_agent: str | None,
    ip_address: str | None,
) -> None:
    await session.execute(
        text(
            "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, workspace_id,"
            " expires_at, user_agent, ip_address)"
            " VALUES (:id, :uid, :fid, :hash, :wid, :exp, :ua, CAST(:ip AS inet))"
        ),
        {
            "id": token_id,
            "uid": user_id,
            "fid": family_id,
            "hash": token_hash,
            "wid": workspace_id,
            "exp": expires_at,
            "ua": (user_agent or "")[:300] or None,
            "ip": ip_address,
        },
    )


async def lookup_refresh_token(session: AsyncSession, token_hash: str) -> RefreshLookup | None:
    row = (
        await session.execute(
            text("SELECT * FROM auth_refresh_token_lookup(:h)"), {"h": token_hash}
        )
    ).first()
    return RefreshLookup(**row._mapping) if row is not None else None


async def consume_refresh_token(
    session: AsyncSession, token_id: uuid.UUID, replaced_by: uuid.UUID
) -> bool:
    """Mark a token used, atomically: ``False`` when it already was (or was revoked), which
    is how two concurrent refreshes with one token are told apart."""
    result = await session.execute(
        text(
            "UPDATE refresh_tokens SET used_at = now(), replaced_by = :new"
            " WHERE id = :id AND used_at IS NULL AND revoked_at IS NULL RETURNING id"
        ),
        {"id": token_id, "new": replaced_by},
    )
    return result.first() is not None


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        text(
            "UPDATE refresh_tokens SET revoked_at = now()"
            " WHERE family_id = :fid AND revoked_at IS NULL"
        ),
        {"fid": family_id},
    )


async def revoke_user_refresh_tokens(
    session: AsyncSession, user_id: uuid.UUID, *, keep_family: uuid.UUID | None = None
) -> None:
    await session.execute(
        text(
            "UPDATE refresh_tokens SET revoked_at = now()"
            " WHERE user_id = :uid AND revoked_at IS NULL"
            " AND (CAST(:keep AS uuid) IS NULL OR family_id <> CAST(:keep AS uuid))"
        ),
        {"uid": user_id, "keep": keep_family},
    )


async def set_family_workspace(
    session: AsyncSession, family_id: uuid.UUID, workspace_id: uuid.UUID
) -> None:
    await session.execute(
        text(
            "UPDATE refresh_tokens SET workspace_id = :wid"
            " WHERE family_id = :fid AND used_at IS NULL AND revoked_at IS NULL"
        ),
        {"fid": family_id, "wid": workspace_id},
    )
