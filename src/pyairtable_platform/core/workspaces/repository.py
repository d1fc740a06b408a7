"""All SQL of the workspaces domain. Every query runs under the RLS context the caller set
(``workspaces``/``workspace_members`` policies in docs/decisions/0002)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.accounts.models import User
from pyairtable_platform.core.workspaces.models import (
    Workspace,
    WorkspaceInvitation,
    WorkspaceMember,
)


@dataclass(frozen=True)
class Membership:
    workspace: Workspace
    role: str


@dataclass(frozen=True)
class MemberRow:
    user_id: uuid.UUID
    email: str
    full_name: str
    role: str
    joined_at: datetime


@dataclass(frozen=True)
class InvitationLookup:
    id: uuid.UUID
    workspace_id: uuid.UUID
    email: str
    role: str
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


async def member_role(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> str | None:
    return await session.scalar(
        select(WorkspaceMember.role).where(
            WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.user_id == user_id
        )
    )


async def memberships(session: AsyncSession, user_id: uuid.UUID) -> list[Membership]:
    """The workspaces a user belongs to, oldest membership first (needs that user's context)."""
    rows = await session.execute(
        select(Workspace, WorkspaceMember.role)
        .join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
        .where(WorkspaceMember.user_id == user_id)
        .order_by(WorkspaceMember.created_at, Workspace.id)
    )
    return [Membership(workspace=w, role=r) for w, r in rows.all()]


async def insert_workspace(
    session: AsyncSession, *, workspace_id: uuid.UUID, name: str, slug: str, created_by: uuid.UUID
) -> Workspace:
    workspace = Workspace(id=workspace_id, name=name, slug=slug, created_by=created_by, settings={})
    session.add(workspace)
    await session.flush()
    await session.refresh(workspace)
    return workspace


async def get_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace | None:
    return await session.get(Workspace, workspace_id)


async def rename(session: AsyncSession, workspace_id: uuid.UUID, name: str) -> None:
    await session.execute(update(Workspace).where(Workspace.id == workspace_id).values(name=name))


async def delete_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    await session.execute(delete(Workspace).where(Workspace.id == workspace_id))


async def add_member(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> None:
    session.add(WorkspaceMember(workspace_id=workspace_id, user_id=user_id, role=role))
    await session.flush()


async def list_members(session: AsyncSession, workspace_id: uuid.UUID) -> list[MemberRow]:
    rows = await session.execute(
        select(
            User.id, User.email, User.full_name, WorkspaceMember.role, WorkspaceMember.created_at
        )
        .join(User, User.id == WorkspaceMember.user_id)
        .where(WorkspaceMember.workspace_id == workspace_id)
        .order_by(WorkspaceMember.created_at, User.email)
    )
    return [MemberRow(*row) for row in rows.all()]


async def set_role(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> None:
    await session.execute(
        update(WorkspaceMember)
        .where(WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.user_id == user_id)
        .values(role=role)
    )


async def remove_member(session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await session.execute(
        delete(WorkspaceMember).where(
            WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.user_id == user_id
        )
    )


async def count_owners(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(WorkspaceMember)
            .where(WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.role == "owner")
        )
        or 0
    )


async def member_ids(session: AsyncSession, workspace_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        (
            await session.scalars(
                select(WorkspaceMember.user_id).where(WorkspaceMember.workspace_id == workspace_id)
            )
        ).all()
    )


# --- invitations ---------------------------------------------------------------------------


async def insert_invitation(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    email: str,
    role: str,
    token_hash: str,
    invited_by: uuid.UUID,
    expires_at: datetime,
) -> WorkspaceInvitation:
    invitation = WorkspaceInvitation(
        workspace_id=workspace_id,
        email=email,
        role=role,
        token_hash=token_hash,
        invited_by=invited_by,
        expires_at=expires_at,
    )
    session.add(invitation)
    await session.flush()
    await session.refresh(invitation)
    return invitation


async def pending_invitations(
    session: AsyncSession, workspace_id: uuid.UUID
) -> list[WorkspaceInvitation]:
    return list(
        (
            await session.scalars(
                select(WorkspaceInvitation)
                .where(
                    WorkspaceInvitation.workspace_id == workspace_id,
                    WorkspaceInvitation.accepted_at.is_(None),
                    WorkspaceInvitation.revoked_at.is_(None),
                    WorkspaceInvitation.expires_at > func.now(),
                )
                .order_by(WorkspaceInvitation.created_at.desc())
            )
        ).all()
    )


async def revoke_pending_for_email(
    session: AsyncSession, workspace_id: uuid.UUID, email: str
) -> None:
    await session.execute(
        update(WorkspaceInvitation)
        .where(
            WorkspaceInvitation.workspace_id == workspace_id,
            func.lower(WorkspaceInvitation.email) == email.lower(),
            WorkspaceInvitation.accepted_at.is_(None),
            WorkspaceInvitation.revoked_at.is_(None),
        )
        .values(revoked_at=func.now())
    )


async def revoke_invitation(
    session: AsyncSession, workspace_id: uuid.UUID, invitation_id: uuid.UUID
) -> bool:
    result = await session.execute(
        update(WorkspaceInvitation)
        .where(
            WorkspaceInvitation.id == invitation_id,
            WorkspaceInvitation.workspace_id == workspace_id,
            WorkspaceInvitation.accepted_at.is_(None),
            WorkspaceInvitation.revoked_at.is_(None),
        )
        .values(revoked_at=func.now())
        .returning(WorkspaceInvitation.id)
    )
    return result.first() is not None


async def lookup_invitation(session: AsyncSession, token_hash: str) -> InvitationLookup | None:
    # SECURITY DEFINER (migration 0004): the invitee is not a member yet, so RLS hides the row.
    row = (
        await session.execute(text("SELECT * FROM auth_invitation_lookup(:h)"), {"h": token_hash})
    ).first()
    return InvitationLookup(**row._mapping) if row is not None else None


async def mark_accepted(
    session: AsyncSession, invitation_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    result = await session.execute(
        update(WorkspaceInvitation)
        .where(WorkspaceInvitation.id == invitation_id, WorkspaceInvitation.accepted_at.is_(None))
        .values(accepted_at=func.now(), accepted_by=user_id)
        .returning(WorkspaceInvitation.id)
    )
    return result.first() is not None
