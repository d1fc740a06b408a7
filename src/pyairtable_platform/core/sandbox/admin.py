"""Operator actions behind ``pyairtable-platform sandbox ...``."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.core.seed import seed_demo
from pyairtable_platform.kit.db import create_engine, create_session_factory, unit_of_work

from .seed import generate_base
from .tokens import IssuedToken, issue_token


class WorkspaceNotFound(Exception):
    pass


async def _workspace(factory: async_sessionmaker[AsyncSession], ref: str | None) -> uuid.UUID:
    # Workspaces are under row-level security, so only an id can be resolved before a
    # tenant context exists; the default is the demo workspace (created if missing).
    if ref is None:
        return (await seed_demo(factory)).workspace_id
    try:
        workspace_id = uuid.UUID(ref)
    except ValueError:
        raise WorkspaceNotFound(
            f"--workspace takes a workspace id (uuid), not {ref!r}; "
            "leave it out for the demo workspace"
        ) from None
    async with unit_of_work(factory, workspace_id=workspace_id) as session:
        found = (
            await session.execute(
                text("SELECT 1 FROM workspaces WHERE id = :id"), {"id": workspace_id}
            )
        ).first()
    if found is None:
        raise WorkspaceNotFound(f"no workspace {workspace_id}")
    return workspace_id


async def issue_cli_token(database_url: str, workspace: str | None, name: str) -> IssuedToken:
    engine = create_engine(database_url, pool_size=1)
    try:
        factory = create_session_factory(engine)
        workspace_id = await _workspace(factory, workspace)
        async with unit_of_work(factory, workspace_id=workspace_id) as session:
            return await issue_token(session, workspace_id, name=name)
    finally:
        await engine.dispose()


async def generate(database_url: str, workspace: str | None, records: int, name: str | None) -> str:
    engine = create_engine(database_url, pool_size=1)
    try:
        factory = create_session_factory(engine)
        workspace_id = await _workspace(factory, workspace)
        async with unit_of_work(factory, workspace_id=workspace_id) as session:
            return await generate_base(session, workspace_id, records=records, name=name)
    finally:
        await engine.dispose()
