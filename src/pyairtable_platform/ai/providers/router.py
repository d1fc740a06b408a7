"""The workspace's LLM provider (``/api/v1/ai/provider``)."""

from __future__ import annotations

from fastapi import APIRouter

from pyairtable_platform.ai.db import DbSession
from pyairtable_platform.ai.deps import AdminCaller, StateDep
from pyairtable_platform.ai.providers import service
from pyairtable_platform.ai.providers.schemas import ProviderUpdate, ProviderView

router = APIRouter(prefix="/api/v1/ai", tags=["ai provider"])


@router.get("/provider", response_model=ProviderView, summary="The LLM provider in use")
async def get_provider(db: DbSession, state: StateDep, caller: AdminCaller) -> ProviderView:
    """Which provider and model chat uses in this workspace, and where that comes from (the
    workspace's own setting or the deployment's). Keys are never returned."""
    return await service.view(db, caller.workspace_id, state.settings)


@router.put("/provider", response_model=ProviderView, summary="Set the workspace's LLM provider")
async def put_provider(
    body: ProviderUpdate, db: DbSession, state: StateDep, caller: AdminCaller
) -> ProviderView:
    """Admins: use this provider, model, key and base URL for the workspace's chats. The key is
    encrypted at rest; omit it to keep the stored one for the same provider."""
    return await service.update(
        db,
        workspace_id=caller.workspace_id,
        user_id=caller.user_id,
        body=body,
        settings=state.settings,
        box=state.box,
    )


@router.delete("/provider", response_model=ProviderView, summary="Use the deployment's provider")
async def delete_provider(db: DbSession, state: StateDep, caller: AdminCaller) -> ProviderView:
    """Admins: drop the workspace's provider setting; chats use the deployment's again."""
    return await service.reset(db, caller.workspace_id, state.settings)
