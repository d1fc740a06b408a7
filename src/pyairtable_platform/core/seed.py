"""Demo data for `make up`: a demo user who owns a demo workspace."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.kit.db import set_tenant_context
from pyairtable_platform.kit.security import hash_password

DEMO_EMAIL = "demo@pyairtable.local"
DEMO_PASSWORD = "demo-airtable-2026"  # noqa: S105 - the published demo login
DEMO_WORKSPACE = "Demo workspace"


@dataclass(frozen=True)
class SeedResult:
    user_id: uuid.UUID
    workspace_id: uuid.UUID
    created: bool


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "workspace"


async def seed_demo(factory: async_sessionmaker[AsyncSession]) -> SeedResult:
    """Create the demo user and workspace unless they exist. Safe to run repeatedly."""
    async with factory() as session, session.begin():
        existing = (
            await session.execute(
                text("SELECT id FROM users WHERE lower(email) = lower(:email)"),
                {"email": DEMO_EMAIL},
            )
        ).scalar_one_or_none()
        user_id = existing or uuid.uuid4()
        # The demo user's own context: every row below is written as that user.
        await set_tenant_context(session, user_id=user_id, workspace_id=None)
        if existing is None:
            await session.execute(
                text(
                    "INSERT INTO users (id, email, password_hash, full_name, email_verified_at)"
                    " VALUES (:id, :email, :hash, 'Demo User', now())"
                ),
                {"id": user_id, "email": DEMO_EMAIL, "hash": hash_password(DEMO_PASSWORD)},
            )
        workspace_id = (
            await session.execute(
                text(
                    "SELECT w.id FROM workspaces w JOIN workspace_members m"
                    " ON m.workspace_id = w.id WHERE m.user_id = :uid AND w.slug = :slug"
                ),
                {"uid": user_id, "slug": slugify(DEMO_WORKSPACE)},
            )
        ).scalar_one_or_none()
        created = workspace_id is None
        if workspace_id is None:
            workspace_id = uuid.uuid4()
            await set_tenant_context(session, user_id=user_id, workspace_id=workspace_id)
            await session.execute(
                text(
                    "INSERT INTO workspaces (id, name, slug, created_by)"
                    " VALUES (:id, :name, :slug, :uid)"
                ),
                {
                    "id": workspace_id,
                    "name": DEMO_WORKSPACE,
                    "slug": slugify(DEMO_WORKSPACE),
                    "uid": user_id,
                },
            )
            await session.execute(
                text(
                    "INSERT INTO workspace_members (workspace_id, user_id, role)"
                    " VALUES (:wid, :uid, 'owner')"
                ),
                {"wid": workspace_id, "uid": user_id},
            )
    return SeedResult(user_id=user_id, workspace_id=workspace_id, created=created)
