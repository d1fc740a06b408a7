"""Workspaces: create, list, rename, delete; members and roles; invitations; switching."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.accounts import repository as account_repository
from pyairtable_platform.core.accounts.mail import MailMessage
from pyairtable_platform.core.accounts.schemas import AccessTokenResponse
from pyairtable_platform.core.accounts.service import LAST_WORKSPACE, create_workspace
from pyairtable_platform.core.api_keys import cache as api_key_cache
from pyairtable_platform.core.api_keys import repository as api_key_repository
from pyairtable_platform.core.auth.deps import WorkspaceContext
from pyairtable_platform.core.auth.state import AuthState
from pyairtable_platform.core.auth.unit import after_commit
from pyairtable_platform.core.workspaces import repository
from pyairtable_platform.core.workspaces.models import WorkspaceInvitation
from pyairtable_platform.core.workspaces.schemas import (
    InvitationCreate,
    MemberAdd,
    MemberOut,
    WorkspaceOut,
)
from pyairtable_platform.kit.auth import Identity
from pyairtable_platform.kit.db import set_tenant_context
from pyairtable_platform.kit.errors import BadRequest, Conflict, Forbidden, NotFound
from pyairtable_platform.kit.security import random_token, sha256_hex


def _require_session(identity: Identity) -> None:
    if identity.kind != "access_token":
        raise Forbidden("this needs a signed-in session, not an API key")


async def list_mine(session: AsyncSession, identity: Identity) -> list[WorkspaceOut]:
    """Workspaces the caller belongs to (an API key sees only its own workspace)."""
    await set_tenant_context(session, user_id=identity.user_id, workspace_id=None)
    rows = await repository.memberships(session, identity.user_id)
    if identity.kind == "api_key":
        rows = [m for m in rows if m.workspace.id == identity.workspace_id]
    return [
        WorkspaceOut(
            id=m.workspace.id,
            name=m.workspace.name,
            slug=m.workspace.slug,
            role=m.role,
            created_at=m.workspace.created_at,
        )
        for m in rows
    ]


async def create(session: AsyncSession, identity: Identity, name: str) -> WorkspaceOut:
    """A new workspace with the caller as owner."""
    _require_session(identity)
    workspace_id = await create_workspace(session, user_id=identity.user_id, name=name.strip())
    return await get(session, workspace_id, "owner")


async def get(session: AsyncSession, workspace_id: uuid.UUID, role: str) -> WorkspaceOut:
    workspace = await repository.get_workspace(session, workspace_id)
    if workspace is None:
        raise NotFound("workspace not found")
    return WorkspaceOut(
        id=workspace.id,
        name=workspace.name,
        slug=workspace.slug,
        role=role,
        created_at=workspace.created_at,
    )


async def rename(ctx: WorkspaceContext, name: str) -> WorkspaceOut:
    await repository.rename(ctx.session, ctx.workspace_id, name.strip())
    workspace = await repository.get_workspace(ctx.session, ctx.workspace_id)
    if workspace is not None:
        await ctx.session.refresh(workspace)
    return await get(ctx.session, ctx.workspace_id, ctx.role)


async def delete(state: AuthState, ctx: WorkspaceContext) -> None:
    """Delete the workspace and everything in it (owner only, signed-in session)."""
    hashes = await api_key_repository.hashes_for_workspace(ctx.session, ctx.workspace_id)
    members = await repository.member_ids(ctx.session, ctx.workspace_id)
    await repository.delete_workspace(ctx.session, ctx.workspace_id)
    workspace_id = ctx.workspace_id

    async def invalidate() -> None:
        await api_key_cache.mark_revoked(state.redis, hashes)
        for user_id in members:
            await state.revocations.revoke_membership(user_id, workspace_id)

    after_commit(ctx.session, invalidate)


# --- members -------------------------------------------------------------------------------


def _member_out(row: repository.MemberRow) -> MemberOut:
    return MemberOut(
        user_id=row.user_id,
        email=row.email,
        full_name=row.full_name,
        role=row.role,
        joined_at=row.joined_at,
    )


async def list_members(ctx: WorkspaceContext) -> list[MemberOut]:
    return [_member_out(r) for r in await repository.list_members(ctx.session, ctx.workspace_id)]


def _check_grant(ctx: WorkspaceContext, role: str) -> None:
    # Admins manage members and viewers but not owners: only an owner makes an owner.
    if role == "owner" and ctx.role != "owner":
        raise Forbidden("only an owner can grant the owner role")


async def add_member(ctx: WorkspaceContext, body: MemberAdd) -> MemberOut:
    """Add an existing user by email (invite people without an account instead)."""
    _check_grant(ctx, body.role)
    user = await account_repository.user_by_email(ctx.session, str(body.email))
    if user is None or not user.is_active:
        raise NotFound("no active user with this email; send an invitation instead")
    if await repository.member_role(ctx.session, ctx.workspace_id, user.id) is not None:
        raise Conflict("this user is already a member")
    await repository.add_member(ctx.session, ctx.workspace_id, user.id, body.role)
    for row in await repository.list_members(ctx.session, ctx.workspace_id):
        if row.user_id == user.id:
            return _member_out(row)
    raise NotFound("member not found")


async def _target_role(ctx: WorkspaceContext, user_id: uuid.UUID) -> str:
    role = await repository.member_role(ctx.session, ctx.workspace_id, user_id)
    if role is None:
        raise NotFound("member not found")
    return role


async def _after_access_change(state: AuthState, ctx: WorkspaceContext, user_id: uuid.UUID) -> None:
    """The member's tokens and API key cache entries for this workspace must be re-read."""
    hashes = await api_key_repository.hashes_for_user(ctx.session, ctx.workspace_id, user_id)
    workspace_id = ctx.workspace_id

    async def invalidate() -> None:
        await api_key_cache.forget(state.redis, hashes)
        await state.revocations.revoke_membership(user_id, workspace_id)

    after_commit(ctx.session, invalidate)


async def change_role(
    state: AuthState, ctx: WorkspaceContext, user_id: uuid.UUID, role: str
) -> MemberOut:
    current = await _target_role(ctx, user_id)
    _check_grant(ctx, role)
    if current == "owner" and ctx.role != "owner":
        raise Forbidden("only an owner can change an owner's role")
    if (
        current == "owner"
        and role != "owner"
        and await repository.count_owners(ctx.session, ctx.workspace_id) <= 1
    ):
        raise Conflict("a workspace needs at least one owner; make someone else owner first")
    if current != role:
        await repository.set_role(ctx.session, ctx.workspace_id, user_id, role)
        await _after_access_change(state, ctx, user_id)
    for row in await repository.list_members(ctx.session, ctx.workspace_id):
        if row.user_id == user_id:
            return _member_out(row)
    raise NotFound("member not found")


async def remove_member(state: AuthState, ctx: WorkspaceContext, user_id: uuid.UUID) -> None:
    """Remove a member (or leave, when it is yourself); their keys here are revoked."""
    current = await _target_role(ctx, user_id)
    if user_id != ctx.identity.user_id:
        if ctx.role not in ("owner", "admin"):
            raise Forbidden("your role may not remove other members")
        if current == "owner" and ctx.role != "owner":
            raise Forbidden("only an owner can remove an owner")
    if current == "owner" and await repository.count_owners(ctx.session, ctx.workspace_id) <= 1:
        raise Conflict("a workspace needs at least one owner; make someone else owner first")
    await _after_access_change(state, ctx, user_id)
    hashes = await api_key_repository.revoke_for_user(ctx.session, ctx.workspace_id, user_id)
    await repository.remove_member(ctx.session, ctx.workspace_id, user_id)

    async def invalidate() -> None:
        await api_key_cache.mark_revoked(state.redis, hashes)

    after_commit(ctx.session, invalidate)


# --- invitations ---------------------------------------------------------------------------


async def list_invitations(ctx: WorkspaceContext) -> list[WorkspaceInvitation]:
    return await repository.pending_invitations(ctx.session, ctx.workspace_id)


async def invite(
    state: AuthState, ctx: WorkspaceContext, body: InvitationCreate
) -> tuple[WorkspaceInvitation, str]:
    """Invite by email: a single-use token, mailed, valid for INVITATION_TTL_DAYS."""
    email = str(body.email)
    existing = await account_repository.user_by_email(ctx.session, email)
    if existing is not None and await repository.member_role(
        ctx.session, ctx.workspace_id, existing.id
    ):
        raise Conflict("this person is already a member")
    # A new invitation replaces any pending one for the same address.
    await repository.revoke_pending_for_email(ctx.session, ctx.workspace_id, email)
    token = random_token(32)
    invitation = await repository.insert_invitation(
        ctx.session,
        workspace_id=ctx.workspace_id,
        email=email,
        role=body.role,
        token_hash=sha256_hex(token),
        invited_by=ctx.identity.user_id,
        expires_at=datetime.now(UTC) + timedelta(days=state.settings.invitation_ttl_days),
    )
    workspace = await repository.get_workspace(ctx.session, ctx.workspace_id)
    name = workspace.name if workspace else "a workspace"
    link = f"{state.settings.public_url.rstrip('/')}/invitations/accept?token={token}"
    message = MailMessage(
        to=email,
        subject=f"You are invited to {name}",
        body=f"You are invited to join {name} on PyAirtable Platform as {body.role}.\n\n"
        f"{link}\n\nSign in (or register with this address), then accept. Token: {token}\n",
        kind="invitation",
        link=link,
    )

    async def send() -> None:
        await state.mail.send(message)

    after_commit(ctx.session, send)
    return invitation, token


async def revoke_invitation(ctx: WorkspaceContext, invitation_id: uuid.UUID) -> None:
    if not await repository.revoke_invitation(ctx.session, ctx.workspace_id, invitation_id):
        raise NotFound("invitation not found")


async def accept_invitation(
    session: AsyncSession, identity: Identity, token: str
) -> tuple[uuid.UUID, str]:
    """Join the inviting workspace; the invitation must be addressed to your email."""
    _require_session(identity)
    invalid = BadRequest("this invitation is invalid, used, revoked or expired")
    invitation = await repository.lookup_invitation(session, sha256_hex(token))
    if invitation is None or invitation.accepted_at or invitation.revoked_at:
        raise invalid
    if invitation.expires_at <= datetime.now(UTC):
        raise invalid
    user = await account_repository.user_by_id(session, identity.user_id)
    if user is None or user.email.lower() != invitation.email.lower():
        raise Forbidden("this invitation was sent to another email address")
    await set_tenant_context(session, user_id=user.id, workspace_id=invitation.workspace_id)
    if not await repository.mark_accepted(session, invitation.id, user.id):
        raise invalid
    if await repository.member_role(session, invitation.workspace_id, user.id) is None:
        try:
            async with session.begin_nested():
                await repository.add_member(
                    session, invitation.workspace_id, user.id, invitation.role
                )
        except IntegrityError as exc:
            raise Conflict("you are already a member of this workspace") from exc
    role = await repository.member_role(session, invitation.workspace_id, user.id)
    return invitation.workspace_id, role or invitation.role


async def switch(
    state: AuthState, ctx: WorkspaceContext, session_id: uuid.UUID | None
) -> AccessTokenResponse:
    """A new access token for this workspace; the session's refresh tokens follow it."""
    user = await account_repository.user_by_id(ctx.session, ctx.identity.user_id)
    if user is None:
        raise NotFound("user not found")
    if session_id is not None:
        await account_repository.set_family_workspace(ctx.session, session_id, ctx.workspace_id)
    await account_repository.set_metadata_key(
        ctx.session, user.id, LAST_WORKSPACE, str(ctx.workspace_id)
    )
    access = await state.issuer.access_token(
        user_id=user.id,
        workspace_id=ctx.workspace_id,
        role=ctx.role,
        session_id=session_id,
        is_platform_admin=user.is_platform_admin,
    )
    return AccessTokenResponse(
        access_token=access.token,
        expires_in=access.expires_in,
        workspace_id=ctx.workspace_id,
        role=ctx.role,
    )
