"""``/api/v1/workspaces``: workspaces, members, invitations, switching; and accepting an
invitation. Role checks happen in ``workspace_access`` (one permission table)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response

from pyairtable_platform.core.accounts.schemas import AccessTokenResponse
from pyairtable_platform.core.auth.deps import (
    AuthDep,
    CurrentIdentity,
    TenantSession,
    WorkspaceContext,
    session_id,
    workspace_access,
)
from pyairtable_platform.core.auth.permissions import Action
from pyairtable_platform.core.workspaces import service
from pyairtable_platform.core.workspaces.schemas import (
    InvitationAccept,
    InvitationAccepted,
    InvitationCreate,
    InvitationCreated,
    InvitationOut,
    MemberAdd,
    MemberOut,
    MemberUpdate,
    WorkspaceCreate,
    WorkspaceOut,
    WorkspaceUpdate,
)
from pyairtable_platform.kit.responses import JSONResponse

router = APIRouter(tags=["workspaces"])
BASE = "/api/v1/workspaces"


# One alias per action: the permission check is part of each handler's signature.
WorkspaceRead = Annotated[WorkspaceContext, workspace_access(Action.WORKSPACE_READ)]
WorkspaceEdit = Annotated[WorkspaceContext, workspace_access(Action.WORKSPACE_UPDATE)]
WorkspaceDelete = Annotated[WorkspaceContext, workspace_access(Action.WORKSPACE_DELETE)]
WorkspaceSwitch = Annotated[WorkspaceContext, workspace_access(Action.WORKSPACE_SWITCH)]
MembersRead = Annotated[WorkspaceContext, workspace_access(Action.MEMBERS_READ)]
MembersManage = Annotated[WorkspaceContext, workspace_access(Action.MEMBERS_MANAGE)]
InvitationsRead = Annotated[WorkspaceContext, workspace_access(Action.INVITATIONS_READ)]
InvitationsManage = Annotated[WorkspaceContext, workspace_access(Action.INVITATIONS_MANAGE)]


@router.get(BASE, response_model=list[WorkspaceOut], summary="List your workspaces")
async def list_workspaces(identity: CurrentIdentity, session: TenantSession) -> Any:
    """Workspaces you are a member of, with your role in each."""
    return await service.list_mine(session, identity)


@router.post(BASE, response_model=WorkspaceOut, status_code=201, summary="Create a workspace")
async def create_workspace(
    body: WorkspaceCreate, identity: CurrentIdentity, session: TenantSession
) -> Any:
    """Create a workspace; you are its owner. Switch to it to work in it."""
    return await service.create(session, identity, body.name)


@router.get(BASE + "/{workspace_id}", response_model=WorkspaceOut, summary="Get a workspace")
async def get_workspace(ctx: WorkspaceRead) -> Any:
    """One workspace you are a member of (404 for any other)."""
    return await service.get(ctx.session, ctx.workspace_id, ctx.role)


@router.patch(BASE + "/{workspace_id}", response_model=WorkspaceOut, summary="Rename")
async def update_workspace(body: WorkspaceUpdate, ctx: WorkspaceEdit) -> Any:
    """Rename the workspace (owner or admin)."""
    return await service.rename(ctx, body.name)


@router.delete(BASE + "/{workspace_id}", status_code=204, summary="Delete a workspace")
async def delete_workspace(ctx: WorkspaceDelete, state: AuthDep) -> Response:
    """Delete the workspace and everything in it (owner only, signed-in session)."""
    await service.delete(state, ctx)
    return Response(status_code=204)


@router.post(
    BASE + "/{workspace_id}/switch",
    response_model=AccessTokenResponse,
    summary="Make this the active workspace",
)
async def switch_workspace(request: Request, ctx: WorkspaceSwitch, state: AuthDep) -> JSONResponse:
    """A new access token whose active workspace is this one; later refreshes of this
    session stay in it."""
    answer = await service.switch(state, ctx, session_id(request))
    return JSONResponse(answer.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@router.get(BASE + "/{workspace_id}/members", response_model=list[MemberOut], summary="Members")
async def list_members(ctx: MembersRead) -> Any:
    """Everyone in the workspace and their role."""
    return await service.list_members(ctx)


@router.post(
    BASE + "/{workspace_id}/members",
    response_model=MemberOut,
    status_code=201,
    summary="Add a member",
)
async def add_member(body: MemberAdd, ctx: MembersManage) -> Any:
    """Add an existing user by email with a role (owner/admin). Only owners grant owner."""
    return await service.add_member(ctx, body)


@router.patch(
    BASE + "/{workspace_id}/members/{user_id}", response_model=MemberOut, summary="Change a role"
)
async def change_role(
    user_id: uuid.UUID, body: MemberUpdate, ctx: MembersManage, state: AuthDep
) -> Any:
    """Change a member's role; it applies to their next request. A workspace keeps at
    least one owner."""
    return await service.change_role(state, ctx, user_id, body.role)


@router.delete(
    BASE + "/{workspace_id}/members/{user_id}", status_code=204, summary="Remove a member"
)
async def remove_member(user_id: uuid.UUID, ctx: MembersRead, state: AuthDep) -> Response:
    """Remove a member (owner/admin), or leave (yourself). Their API keys here are revoked."""
    await service.remove_member(state, ctx, user_id)
    return Response(status_code=204)


@router.get(
    BASE + "/{workspace_id}/invitations", response_model=list[InvitationOut], summary="Invitations"
)
async def list_invitations(ctx: InvitationsRead) -> Any:
    """Pending invitations (owner/admin)."""
    return await service.list_invitations(ctx)


@router.post(
    BASE + "/{workspace_id}/invitations",
    response_model=InvitationCreated,
    status_code=201,
    summary="Invite by email",
)
async def invite(body: InvitationCreate, ctx: InvitationsManage, state: AuthDep) -> Any:
    """Invite someone by email with a role; they accept with the mailed token after
    signing in (or registering) with that address."""
    invitation, token = await service.invite(state, ctx, body)
    return InvitationCreated.model_validate(
        {**InvitationOut.model_validate(invitation).model_dump(), "token": token}
    )


@router.delete(
    BASE + "/{workspace_id}/invitations/{invitation_id}",
    status_code=204,
    summary="Revoke an invitation",
)
async def revoke_invitation(invitation_id: uuid.UUID, ctx: InvitationsManage) -> Response:
    """Revoke a pending invitation."""
    await service.revoke_invitation(ctx, invitation_id)
    return Response(status_code=204)


@router.post(
    "/api/v1/invitations/accept", response_model=InvitationAccepted, summary="Accept an invitation"
)
async def accept_invitation(
    body: InvitationAccept, identity: CurrentIdentity, session: TenantSession
) -> InvitationAccepted:
    """Join the workspace of an invitation sent to your email address."""
    workspace_id, role = await service.accept_invitation(session, identity, body.token)
    return InvitationAccepted(workspace_id=workspace_id, role=role)
