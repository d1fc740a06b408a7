"""Request dependencies: who is calling (verified on every request, zero trust), what they
may do, and the unit of work that carries their RLS context.

- ``CurrentIdentity``: the verified :class:`~pyairtable_platform.kit.auth.Identity` from an
  access token or an API key; 401 otherwise.
- ``require_permission(Action.X)`` / ``require_role(...)`` / ``require_scope(...)``: checks
  against the active workspace of the identity (the table lives in ``permissions.py``).
- ``TenantSession``: one transaction with ``app.current_user_id`` / ``app.current_workspace_id``
  from the identity, committed before the response is sent.
- ``workspace_access(Action.X)``: for ``/workspaces/{workspace_id}/...`` routes: the caller's
  membership in that workspace (404 when none: existence is not revealed), the permission
  check, and a transaction in that workspace's RLS context.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.api_keys import service as api_key_service
from pyairtable_platform.core.auth import permissions
from pyairtable_platform.core.auth.permissions import Action
from pyairtable_platform.core.auth.state import AuthState, KeysFor
from pyairtable_platform.core.auth.unit import transaction
from pyairtable_platform.core.workspaces import repository as workspace_repository
from pyairtable_platform.kit.auth import Identity, Scope, extract_credential
from pyairtable_platform.kit.errors import Forbidden, NotFound, Unauthorized


# async on purpose: FastAPI runs plain ``def`` dependencies in a worker thread, a hop that
# cost more than the rest of this dependency on every authenticated request.
async def get_auth_state(request: Request) -> AuthState:
    state: AuthState = request.app.state.auth
    return state


AuthDep = Annotated[AuthState, Depends(get_auth_state)]


async def _verify(request: Request, state: AuthState) -> Identity | None:
    credential = extract_credential(request.headers)
    if credential is None:
        return None
    kind, value = credential
    if kind == "api_key":
        return await api_key_service.resolve(state, value)
    identity, claims = await state.verify_access_token(value)
    request.state.pap_access_claims = claims
    return identity


async def get_identity(request: Request, state: AuthDep) -> Identity:
    identity = await _verify(request, state)
    if identity is None:
        raise Unauthorized(
            "authentication required: send 'Authorization: Bearer <access token or API key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return identity


async def get_optional_identity(request: Request, state: AuthDep) -> Identity | None:
    """The identity when a credential is sent (a bad one is still 401), else ``None``."""
    return await _verify(request, state)


CurrentIdentity = Annotated[Identity, Depends(get_identity)]


@dataclass(frozen=True)
class IdentityReads:
    """The verified caller, plus the Redis values a handler asked for with it."""

    identity: Identity
    values: list[Any]


def identity_reading(keys_for: KeysFor) -> Any:
    """Dependency: :data:`CurrentIdentity` plus the values of ``keys_for(identity)`` in
    Redis, read in the same round trip as the access token's revocation check — for hot
    read endpoints answered from a cache (``GET /api/v1/users/me``)."""

    async def dependency(request: Request, state: AuthDep) -> IdentityReads:
        return await read_identity(request, state, keys_for)

    return Depends(dependency)


async def read_identity(request: Request, state: AuthState, keys_for: KeysFor) -> IdentityReads:
    """What :func:`identity_reading` depends on, callable outside dependency injection."""
    credential = extract_credential(request.headers)
    if credential is None:
        raise Unauthorized(
            "authentication required: send 'Authorization: Bearer <access token or API key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    kind, value = credential
    if kind == "api_key":
        identity = await api_key_service.resolve(state, value)
        keys = list(keys_for(identity))
        try:
            values: list[Any] = await state.redis.mget(keys)
        except RedisError:
            values = [None] * len(keys)  # the handler reads the database instead
        return IdentityReads(identity, values)
    identity, claims, values = await state.verify_access_token_and_read(value, keys_for)
    request.state.pap_access_claims = claims
    return IdentityReads(identity, values)


OptionalIdentity = Annotated[Identity | None, Depends(get_optional_identity)]


def access_claims(request: Request) -> dict[str, Any] | None:
    """The verified access-token claims of this request (``None`` for API keys)."""
    claims: dict[str, Any] | None = getattr(request.state, "pap_access_claims", None)
    return claims


def session_id(request: Request) -> uuid.UUID | None:
    """The sign-in session (refresh-token family) of the access token, if any."""
    claims = access_claims(request)
    sid = claims.get("sid") if claims else None
    return uuid.UUID(sid) if sid else None


def require_permission(action: Action) -> Any:
    """Dependency: the identity, if its role in the active workspace allows ``action``."""

    async def check(identity: CurrentIdentity) -> Identity:
        if identity.workspace_id is None:
            raise Forbidden("no active workspace: create one or accept an invitation first")
        permissions.check_identity(identity, action)
        return identity

    return Depends(check)


def require_role(*roles: str) -> Any:
    """Dependency: the identity, if its role in the active workspace is one of ``roles``."""

    async def check(identity: CurrentIdentity) -> Identity:
        if identity.role not in roles:
            raise Forbidden(
                f"requires role {' or '.join(roles)}; yours is {identity.role or 'none'}"
            )
        return identity

    return Depends(check)


def require_scope(scope: Scope) -> Any:
    """Dependency: the identity, if its credential's scope is at least ``scope``."""

    async def check(identity: CurrentIdentity) -> Identity:
        if permissions.SCOPE_RANK[identity.scope] < permissions.SCOPE_RANK[scope]:
            raise Forbidden(
                f"this credential's scope ({identity.scope}) is not enough; needs {scope}"
            )
        return identity

    return Depends(check)


async def _tenant_session(state: AuthDep, identity: CurrentIdentity) -> AsyncIterator[AsyncSession]:
    async with transaction(
        state.factory, user_id=identity.user_id, workspace_id=identity.workspace_id
    ) as session:
        yield session


async def _public_session(state: AuthDep) -> AsyncIterator[AsyncSession]:
    async with transaction(state.factory) as session:
        yield session


# scope="function": the transaction commits before the response leaves, so a client that
# sees 200 can rely on the change (FastAPI's default "request" scope commits afterwards).
TenantSession = Annotated[AsyncSession, Depends(_tenant_session, scope="function")]
PublicSession = Annotated[AsyncSession, Depends(_public_session, scope="function")]


@dataclass(frozen=True)
class WorkspaceContext:
    identity: Identity
    workspace_id: uuid.UUID
    role: str
    session: AsyncSession


def workspace_access(action: Action) -> Any:
    """Dependency for ``/workspaces/{workspace_id}/...``: membership, permission, session."""

    async def dependency(
        state: AuthDep,
        identity: CurrentIdentity,
        workspace_id: Annotated[uuid.UUID, Path(description="workspace id")],
    ) -> AsyncIterator[WorkspaceContext]:
        # An API key belongs to one workspace: any other id is, for it, not there.
        if identity.kind == "api_key" and identity.workspace_id != workspace_id:
            raise NotFound("workspace not found")
        async with transaction(
            state.factory, user_id=identity.user_id, workspace_id=workspace_id
        ) as session:
            # The role is read from the database, not the token: a change applies at once.
            role = await workspace_repository.member_role(session, workspace_id, identity.user_id)
            if role is None:
                raise NotFound("workspace not found")
            permissions.check(role, identity.scope, action)
            yield WorkspaceContext(identity, workspace_id, role, session)

    return Depends(dependency, scope="function")
