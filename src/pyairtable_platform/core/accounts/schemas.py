"""Request and response bodies of the auth and profile endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RegisterRequest(_Strict):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)
    full_name: str = Field(default="", max_length=200)
    workspace_name: str | None = Field(
        default=None, max_length=100, description="name of the personal workspace created"
    )


class LoginRequest(_Strict):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(_Strict):
    refresh_token: str = Field(min_length=1, max_length=512)


class LogoutRequest(_Strict):
    refresh_token: str | None = Field(default=None, max_length=512)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type name
    expires_in: int = Field(description="seconds until the access token expires")


class AccessTokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type name
    expires_in: int
    workspace_id: uuid.UUID
    role: str


class TokenRequest(_Strict):
    token: str = Field(min_length=1, max_length=512)


class PasswordResetRequest(_Strict):
    email: str = Field(min_length=1, max_length=320)


class PasswordResetConfirm(_Strict):
    token: str = Field(min_length=1, max_length=512)
    new_password: str = Field(min_length=1, max_length=1024)


class PasswordChange(_Strict):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class DeactivateRequest(_Strict):
    password: str = Field(min_length=1, max_length=1024)


class ProfileUpdate(_Strict):
    full_name: str | None = Field(default=None, max_length=200)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    email_verified: bool
    is_platform_admin: bool
    created_at: datetime
    last_login_at: datetime | None


class WhoAmI(BaseModel):
    user_id: uuid.UUID
    workspace_id: uuid.UUID | None
    role: str | None
    scope: Literal["read", "write", "full"]
    kind: Literal["access_token", "api_key"]
    api_key_id: uuid.UUID | None
    email: str
    is_platform_admin: bool = False
    jti: str | None = None


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    detail: str
