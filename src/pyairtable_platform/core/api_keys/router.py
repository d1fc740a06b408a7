"""``/api/v1/api-keys``: keys of the caller in the active workspace."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Response

from pyairtable_platform.core.api_keys import service
from pyairtable_platform.core.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from pyairtable_platform.core.auth.deps import AuthDep, CurrentIdentity, TenantSession

router = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"])


@router.get("", response_model=list[ApiKeyOut], summary="List API keys")
async def list_api_keys(
    identity: CurrentIdentity,
    session: TenantSession,
    all_users: bool = Query(False, alias="all", description="owners/admins: everyone's keys"),
) -> Any:
    """Your live API keys in the active workspace (secrets are never shown again)."""
    return await service.list_keys(session, identity, all_users=all_users)


@router.post("", response_model=ApiKeyCreated, status_code=201, summary="Create an API key")
async def create_api_key(
    body: ApiKeyCreate, identity: CurrentIdentity, session: TenantSession
) -> Any:
    """Create a ``read`` or ``write`` key for you in the active workspace. The answer holds the
    full key in ``key`` once; only its prefix is kept visible."""
    row, key = await service.create(session, identity, body)
    return ApiKeyCreated.model_validate({**ApiKeyOut.model_validate(row).model_dump(), "key": key})


@router.delete("/{key_id}", status_code=204, summary="Revoke an API key")
async def revoke_api_key(
    key_id: uuid.UUID, identity: CurrentIdentity, session: TenantSession, state: AuthDep
) -> Response:
    """Revoke a key; it fails from the next request on, everywhere."""
    await service.revoke(state, session, identity, key_id)
    return Response(status_code=204)
