"""``POST /api/v1/sandbox/tokens``: a workspace admin issues a sandbox access token."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from pyairtable_platform.core.auth.deps import TenantSession, require_role
from pyairtable_platform.kit.auth import Identity

from .tokens import issue_token

router = APIRouter(prefix="/api/v1/sandbox", tags=["sandbox"])


class TokenCreate(BaseModel):
    name: str = Field(default="Sandbox token", min_length=1, max_length=100)


class TokenIssued(BaseModel):
    id: uuid.UUID
    name: str
    workspace_id: uuid.UUID
    token: str = Field(description="shown only once; send it as 'Authorization: Bearer <token>'")
    endpoint_url: str = Field(description="pass to pyairtable as Api(token, endpoint_url=...)")


@router.post("/tokens", status_code=201)
async def create_sandbox_token(
    request: Request,
    identity: Annotated[Identity, require_role("owner", "admin")],
    session: TenantSession,
    body: TokenCreate | None = None,
) -> TokenIssued:
    """Issue a sandbox personal access token for the caller's active workspace.

    The sandbox answers Airtable's Web API at ``/sandbox/v0/...`` for the workspace's own
    sandbox bases. Owners and admins only.
    """
    assert identity.workspace_id is not None, "a role implies an active workspace"
    name = body.name if body else "Sandbox token"
    issued = await issue_token(session, identity.workspace_id, name=name, user_id=identity.user_id)
    public_url: str = request.app.state.resources.settings.public_url
    return TokenIssued(
        id=issued.id,
        name=issued.name,
        workspace_id=issued.workspace_id,
        token=issued.token,
        endpoint_url=public_url.rstrip("/") + "/sandbox",
    )
