"""Accounts: register, sign in and out, refresh with rotation and reuse detection, profile,
password change and reset, email verification, deactivation."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.accounts import cache as profile_cache
from pyairtable_platform.core.accounts import one_time, repository
from pyairtable_platform.core.accounts.exceptions import (
    InvalidAccountToken,
    InvalidCredentials,
    InvalidRefreshToken,
)
from pyairtable_platform.core.accounts.mail import MailMessage
from pyairtable_platform.core.accounts.models import User
from pyairtable_platform.core.accounts.passwords import (
    check_new_password,
    hash_async,
    verify_async,
)
from pyairtable_platform.core.accounts.schemas import (
    DeactivateRequest,
    LoginRequest,
    PasswordChange,
    ProfileUpdate,
    RegisterRequest,
    TokenPair,
    UserOut,
)
from pyairtable_platform.core.accounts.throttle import LoginThrottle
from pyairtable_platform.core.api_keys import cache as api_key_cache
from pyairtable_platform.core.api_keys import repository as api_key_repository
from pyairtable_platform.core.auth.state import AuthState
from pyairtable_platform.core.auth.unit import after_commit, transaction
from pyairtable_platform.core.seed import slugify
from pyairtable_platform.core.workspaces import repository as workspace_repository
from pyairtable_platform.kit.auth import Identity
from pyairtable_platform.kit.db import set_tenant_context
from pyairtable_platform.kit.errors import Forbidden, NotFound
from pyairtable_platform.kit.security import password_needs_rehash, random_token, sha256_hex

LAST_WORKSPACE = "last_workspace_id"


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None
    user_agent: str | None


def throttle(state: AuthState) -> LoginThrottle:
    s = state.settings
    return LoginThrottle(
        state.redis,
        max_per_account=s.login_max_failures_per_account,
        max_per_ip=s.login_max_failures_per_ip,
        base_seconds=s.login_lockout_base_seconds,
        max_seconds=s.login_lockout_max_seconds,
    )


def new_slug(name: str) -> str:
    # Slugs are unique across every workspace, most of which RLS hides from us: a random
    # suffix avoids collisions without having to look.
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return f"{slugify(name)[:40]}-{''.join(secrets.choice(alphabet) for _ in range(6))}"


async def create_workspace(session: AsyncSession, *, user_id: uuid.UUID, name: str) -> uuid.UUID:
    """A workspace with ``user_id`` as owner; leaves the RLS context on that workspace."""
    workspace_id = uuid.uuid4()
    await set_tenant_context(session, user_id=user_id, workspace_id=workspace_id)
    await workspace_repository.insert_workspace(
        session, workspace_id=workspace_id, name=name, slug=new_slug(name), created_by=user_id
    )
    await workspace_repository.add_member(session, workspace_id, user_id, "owner")
    return workspace_id


async def pick_workspace(session: AsyncSession, user: User) -> tuple[uuid.UUID | None, str | None]:
    """The workspace a new session starts in: the last one switched to, else the oldest."""
    await set_tenant_context(session, user_id=user.id, workspace_id=None)
    memberships = await workspace_repository.memberships(session, user.id)
    if not memberships:
        return None, None
    last = (user.metadata_ or {}).get(LAST_WORKSPACE)
    for membership in memberships:
        if str(membership.workspace.id) == last:
            return membership.workspace.id, membership.role
    return memberships[0].workspace.id, memberships[0].role


async def issue_session(
    state: AuthState,
    session: AsyncSession,
    *,
    user: User,
    workspace_id: uuid.UUID | None,
    role: str | None,
    family_id: uuid.UUID,
    client: ClientInfo,
    token_id: uuid.UUID | None = None,
) -> TokenPair:
    """A new refresh token in ``family_id`` plus an access token for ``workspace_id``."""
    refresh = random_token(32)
    await set_tenant_context(session, user_id=user.id, workspace_id=workspace_id)
    await repository.insert_refresh_token(
        session,
        token_id=token_id or uuid.uuid4(),
        user_id=user.id,
        family_id=family_id,
        token_hash=sha256_hex(refresh),
        workspace_id=workspace_id,
        expires_at=datetime.now(UTC) + timedelta(days=state.settings.refresh_token_ttl_days),
        user_agent=client.user_agent,
        ip_address=client.ip,
    )
    access = await state.issuer.access_token(
        user_id=user.id,
        workspace_id=workspace_id,
        role=role,
        session_id=family_id,
        is_platform_admin=user.is_platform_admin,
    )
    return TokenPair(access_token=access.token, refresh_token=refresh, expires_in=access.expires_in)


def _link(state: AuthState, path: str, token: str) -> str:
    return f"{state.settings.public_url.rstrip('/')}{path}?token={token}"


async def _send_verification(state: AuthState, user_id: uuid.UUID, email: str) -> None:
    token = await one_time.issue(
        state.redis,
        "verify",
        {"user_id": str(user_id), "email": email.lower()},
        state.settings.email_verification_ttl_hours * 3600,
    )
    link = _link(state, "/verify-email", token)
    await state.mail.send(
        MailMessage(
            to=email,
            subject="Confirm your email address",
            body=f"Confirm your email address for PyAirtable Platform:\n\n{link}\n\n"
            f"Or send this token to POST /api/v1/auth/verify-email: {token}\n",
            kind="verify_email",
            link=link,
        )
    )


async def register(
    state: AuthState, session: AsyncSession, body: RegisterRequest, client: ClientInfo
) -> TokenPair:
    """Create the user and a personal workspace they own; sign them in."""
    email = str(body.email)
    check_new_password(body.password, email=email)
    user_id = uuid.uuid4()
    await set_tenant_context(session, user_id=user_id, workspace_id=None)
    user = await repository.insert_user(
        session,
        user_id=user_id,
        email=email,
        password_hash=await hash_async(body.password),
        full_name=body.full_name.strip(),
    )
    name = (body.workspace_name or "").strip() or (
        f"{user.full_name or email.split('@', maxsplit=1)[0]}'s workspace"
    )
    workspace_id = await create_workspace(session, user_id=user_id, name=name[:100])
    pair = await issue_session(
        state,
        session,
        user=user,
        workspace_id=workspace_id,
        role="owner",
        family_id=uuid.uuid4(),
        client=client,
    )

    async def send() -> None:
        await _send_verification(state, user_id, email)

    after_commit(session, send)
    return pair


async def login(
    state: AuthState, session: AsyncSession, body: LoginRequest, client: ClientInfo
) -> TokenPair:
    """Sign in; one answer ("invalid credentials") for every kind of failure."""
    email = body.email.strip()
    limiter = throttle(state)
    await limiter.check(email, client.ip)
    user = await repository.user_by_email(session, email)
    ok = await verify_async(user.password_hash if user else None, body.password)
    if user is None or not ok or not user.is_active:
        await limiter.failed(email, client.ip)
        raise InvalidCredentials()
    await limiter.succeeded(email)
    values: dict[str, Any] = {"last_login_at": datetime.now(UTC)}
    if password_needs_rehash(user.password_hash):
        values["password_hash"] = await hash_async(body.password)
    await repository.update_user(session, user.id, **values)
    _forget_profile(state, session, user.id)
    workspace_id, role = await pick_workspace(session, user)
    return await issue_session(
        state,
        session,
        user=user,
        workspace_id=workspace_id,
        role=role,
        family_id=uuid.uuid4(),
        client=client,
    )


async def refresh(state: AuthState, raw_token: str, client: ClientInfo) -> TokenPair:
    """Rotate a refresh token: the presented one is marked used and a new one in the same
    family is returned. Presenting a used token again means it was copied: the whole family
    (that sign-in session) is revoked and the caller must sign in again.

    Manages its own transactions: the revocation must be committed although the request
    itself fails with 401.
    """
    now = datetime.now(UTC)
    reused: tuple[uuid.UUID, uuid.UUID] | None = None
    async with transaction(state.factory) as session:
        row = await repository.lookup_refresh_token(session, sha256_hex(raw_token))
        if row is None:
            raise InvalidRefreshToken("invalid refresh token")
        if row.revoked_at is not None:
            raise InvalidRefreshToken("this session was revoked; sign in again")
        if row.expires_at <= now:
            raise InvalidRefreshToken("refresh token expired; sign in again")
        await set_tenant_context(session, user_id=row.user_id, workspace_id=row.workspace_id)
        new_id = uuid.uuid4()
        if row.used_at is not None or not await repository.consume_refresh_token(
            session, row.id, new_id
        ):
            reused = (row.user_id, row.family_id)
        else:
            user = await repository.user_by_id(session, row.user_id)
            if user is None or not user.is_active:
                raise InvalidRefreshToken("this account is not active")
            workspace_id, role = row.workspace_id, None
            if workspace_id is not None:
                role = await workspace_repository.member_role(session, workspace_id, user.id)
            if role is None:
                workspace_id, role = await pick_workspace(session, user)
            return await issue_session(
                state,
                session,
                user=user,
                workspace_id=workspace_id,
                role=role,
                family_id=row.family_id,
                client=client,
                token_id=new_id,
            )
    user_id, family_id = reused
    async with transaction(state.factory, user_id=user_id) as session:
        await repository.revoke_family(session, family_id)
    raise InvalidRefreshToken(
        "refresh token reuse detected: this session was revoked, sign in again"
    )


async def logout(
    state: AuthState,
    *,
    claims: dict[str, Any] | None,
    refresh_token: str | None,
) -> None:
    """End a session: its refresh-token family is revoked, the access token denied."""
    families: list[tuple[uuid.UUID, uuid.UUID]] = []
    if refresh_token:
        async with transaction(state.factory) as session:
            row = await repository.lookup_refresh_token(session, sha256_hex(refresh_token))
        if row is not None:
            families.append((row.user_id, row.family_id))
    if claims is not None:
        sid = claims.get("sid")
        if sid:
            families.append((uuid.UUID(str(claims["sub"])), uuid.UUID(str(sid))))
    if not families and claims is None:
        raise InvalidRefreshToken("nothing to sign out: send the access token or refresh token")
    for user_id, family_id in families:
        async with transaction(state.factory, user_id=user_id) as session:
            await repository.revoke_family(session, family_id)
    if claims is not None:
        remaining = int(claims["exp"]) - int(datetime.now(UTC).timestamp())
        await state.revocations.deny(str(claims["jti"]), remaining + 60)


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        email_verified=user.email_verified_at is not None,
        is_platform_admin=user.is_platform_admin,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def _forget_profile(state: AuthState, session: AsyncSession, user_id: uuid.UUID) -> None:
    """Invalidate the cached profile once the change to it is committed."""

    async def invalidate() -> None:
        await profile_cache.invalidate(state.redis, user_id)

    after_commit(session, invalidate)


async def get_me(session: AsyncSession, identity: Identity) -> User:
    user = await repository.user_by_id(session, identity.user_id)
    if user is None or not user.is_active:
        raise NotFound("user not found")
    return user


async def profile_json(state: AuthState, identity: Identity, cached: object) -> bytes:
    """The caller's profile as JSON: ``cached`` (the value of
    :func:`profile_cache.keys_for`, read with the revocation check) when it holds one, so
    a hit costs no database transaction at all; else read under the caller's RLS context
    and cached.

    The identity was verified and checked against revocation by the caller's dependency;
    the entry is keyed by that verified user id, so it is only ever served to its owner.
    """
    body = profile_cache.profile(cached)
    if body is not None:
        return body
    async with transaction(
        state.factory, user_id=identity.user_id, workspace_id=identity.workspace_id
    ) as session:
        body = user_out(await get_me(session, identity)).model_dump_json().encode()
    await profile_cache.fill(state.redis, identity.user_id, body)
    return body


async def update_me(
    state: AuthState, session: AsyncSession, identity: Identity, body: ProfileUpdate
) -> User:
    """Change profile fields (the name; email changes are not supported yet)."""
    if body.full_name is not None:
        await repository.update_user(session, identity.user_id, full_name=body.full_name.strip())
        _forget_profile(state, session, identity.user_id)
    user = await get_me(session, identity)
    await session.refresh(user)
    return user


def _require_session(identity: Identity) -> None:
    if identity.kind != "access_token":
        raise Forbidden("this needs a signed-in session, not an API key")


async def change_password(
    session: AsyncSession, identity: Identity, body: PasswordChange, session_id: uuid.UUID | None
) -> None:
    """Set a new password; every other session's refresh tokens are revoked."""
    _require_session(identity)
    user = await get_me(session, identity)
    if not await verify_async(user.password_hash, body.current_password):
        raise Forbidden("the current password is not correct")
    check_new_password(body.new_password, email=user.email)
    if body.new_password == body.current_password:
        raise Forbidden("the new password must differ from the current one")
    await repository.set_password(session, user.id, await hash_async(body.new_password))
    await repository.revoke_user_refresh_tokens(session, user.id, keep_family=session_id)


async def deactivate(
    state: AuthState, session: AsyncSession, identity: Identity, body: DeactivateRequest
) -> None:
    """Deactivate the account: sessions, access tokens and API keys stop working at once."""
    _require_session(identity)
    user = await get_me(session, identity)
    if not await verify_async(user.password_hash, body.password):
        raise Forbidden("the password is not correct")
    await repository.update_user(session, user.id, is_active=False)
    _forget_profile(state, session, user.id)
    await repository.revoke_user_refresh_tokens(session, user.id)
    await set_tenant_context(session, user_id=user.id, workspace_id=None)
    memberships = await workspace_repository.memberships(session, user.id)
    hashes: list[str] = []
    for membership in memberships:
        # api_keys is a tenant table: revoke per workspace, each in its own RLS context.
        await set_tenant_context(session, user_id=user.id, workspace_id=membership.workspace.id)
        hashes += await api_key_repository.revoke_for_user(
            session, membership.workspace.id, user.id
        )

    async def invalidate() -> None:
        await api_key_cache.mark_revoked(state.redis, hashes)
        await state.revocations.revoke_user(user.id)

    after_commit(session, invalidate)


async def verify_email(state: AuthState, session: AsyncSession, token: str) -> None:
    """Mark the email verified with a token from the verification mail (single use)."""
    data = await one_time.peek(state.redis, "verify", token)
    if data is None or not await one_time.consume(state.redis, "verify", token):
        raise InvalidAccountToken("this verification link is invalid, used or expired")
    user = await repository.user_by_id(session, uuid.UUID(data["user_id"]))
    if user is None or user.email.lower() != data.get("email"):
        raise InvalidAccountToken("this verification link is invalid, used or expired")
    if user.email_verified_at is None:
        await repository.update_user(session, user.id, email_verified_at=datetime.now(UTC))
        _forget_profile(state, session, user.id)


async def request_password_reset(state: AuthState, session: AsyncSession, email: str) -> None:
    """Mail a reset link if the account exists; the answer is the same either way."""
    user = await repository.user_by_email(session, email.strip())
    if user is None or not user.is_active:
        return
    # One mail a minute per account at most: the endpoint is anonymous.
    if not await state.redis.set(f"pap:auth:reset-sent:{user.id}", b"1", nx=True, ex=60):
        return
    token = await one_time.issue(
        state.redis,
        "reset",
        {"user_id": str(user.id), "pwc": user.password_changed_at.isoformat()},
        state.settings.password_reset_ttl_minutes * 60,
    )
    link = _link(state, "/reset-password", token)
    await state.mail.send(
        MailMessage(
            to=user.email,
            subject="Reset your password",
            body=f"Someone asked to reset your PyAirtable Platform password. If it was you:\n\n"
            f"{link}\n\nThe link works once, for "
            f"{state.settings.password_reset_ttl_minutes} minutes. Token: {token}\n",
            kind="password_reset",
            link=link,
        )
    )


async def confirm_password_reset(
    state: AuthState, session: AsyncSession, token: str, new_password: str
) -> None:
    """Set a new password with a reset token; every session of the account is revoked."""
    data = await one_time.peek(state.redis, "reset", token)
    invalid = InvalidAccountToken("this reset link is invalid, used or expired")
    if data is None:
        raise invalid
    user = await repository.user_by_id(session, uuid.UUID(data["user_id"]))
    # A token from before the last password change is void: it was meant for that password.
    if user is None or not user.is_active or user.password_changed_at.isoformat() != data["pwc"]:
        raise invalid
    check_new_password(new_password, email=user.email)
    if not await one_time.consume(state.redis, "reset", token):
        raise invalid
    await set_tenant_context(session, user_id=user.id, workspace_id=None)
    await repository.set_password(session, user.id, await hash_async(new_password))
    # Receiving the mail proves the mailbox, as verification would.
    if user.email_verified_at is None:
        await repository.update_user(session, user.id, email_verified_at=datetime.now(UTC))
        _forget_profile(state, session, user.id)
    await repository.revoke_user_refresh_tokens(session, user.id)
    user_id = user.id

    async def invalidate() -> None:
        await state.revocations.revoke_user(user_id)
        await throttle(state).succeeded(user.email)

    after_commit(session, invalidate)
