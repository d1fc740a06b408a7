"""Operator action behind ``pyairtable-platform api-key create``: a key to connect an MCP
client in one step (for the demo workspace's owner by default)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text

# The ApiKey model's foreign keys name these tables: their models must be registered too.
from pyairtable_platform.core.accounts import models as _accounts_models  # noqa: F401
from pyairtable_platform.core.api_keys import repository as api_key_repository
from pyairtable_platform.core.api_keys.service import generate_key
from pyairtable_platform.core.seed import seed_demo
from pyairtable_platform.core.workspaces import models as _workspaces_models  # noqa: F401
from pyairtable_platform.kit.auth import api_key_hash
from pyairtable_platform.kit.db import create_engine, create_session_factory, unit_of_work


class WorkspaceNotFound(Exception):
    pass


@dataclass(frozen=True)
class IssuedKey:
    key: str
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    scope: str


async def create_cli_key(
    database_url: str, workspace: str | None, scope: str, name: str
) -> IssuedKey:
    engine = create_engine(database_url, pool_size=1)
    try:
        factory = create_session_factory(engine)
        if workspace is None:
            demo = await seed_demo(factory)
            workspace_id, owner = demo.workspace_id, demo.user_id
        else:
            try:
                workspace_id = uuid.UUID(workspace)
            except ValueError:
                raise WorkspaceNotFound(
                    f"--workspace takes a workspace id (uuid), not {workspace!r}; "
                    "leave it out for the demo workspace"
                ) from None
            # Workspaces are under RLS: only their own context can see their owner.
            async with unit_of_work(factory, workspace_id=workspace_id) as session:
                found = (
                    await session.execute(
                        text(
                            "SELECT user_id FROM workspace_members WHERE workspace_id = :w"
                            " AND role = 'owner' ORDER BY created_at LIMIT 1"
                        ),
                        {"w": workspace_id},
                    )
                ).scalar_one_or_none()
            if found is None:
                raise WorkspaceNotFound(f"no workspace {workspace_id} (or it has no owner)")
            owner = uuid.UUID(str(found))
        async with unit_of_work(factory, user_id=owner, workspace_id=workspace_id) as session:
            for _ in range(5):
                key, prefix = generate_key()
                if not await api_key_repository.prefix_exists(session, prefix):
                    break
            await api_key_repository.insert(
                session,
                workspace_id=workspace_id,
                user_id=owner,
                name=name,
                prefix=prefix,
                key_hash=api_key_hash(key),
                scope=scope,
                expires_at=None,
            )
        return IssuedKey(key, workspace_id, owner, scope)
    finally:
        await engine.dispose()
