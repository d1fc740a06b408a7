"""Request and response bodies of the workspaces endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

MemberRole = Literal["owner", "admin", "member", "viewer"]
InviteRole = Literal["admin", "member", "viewer"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkspaceCreate(_Strict):
    name: str = Field(min_length=1, max_length=100)


class WorkspaceUpdate(_Strict):
    name: str = Field(min_length=1, max_length=100)


class WorkspaceOut(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    role: MemberRole = Field(description="your role in this workspace")
    created_at: datetime


class MemberAdd(_Strict):
    email: EmailStr
    role: MemberRole = "member"


class MemberUpdate(_Strict):
    role: MemberRole


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    full_name: str
    role: MemberRole
    joined_at: datetime


class InvitationCreate(_Strict):
    email: EmailStr
    role: InviteRole = "member"


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: InviteRole
    expires_at: datetime
    created_at: datetime


class InvitationCreated(InvitationOut):
    token: str = Field(description="the invitation token (also mailed to the invitee)")


class InvitationAccept(_Strict):
    token: str = Field(min_length=1, max_length=512)


class InvitationAccepted(BaseModel):
    workspace_id: uuid.UUID
    role: MemberRole
