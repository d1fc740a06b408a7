"""API keys: creation (the secret is shown once), listing, revocation, resolution."""

from __future__ import annotations

import contextlib
import secrets
import string
import uuid
from datetime import UTC, datetime

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.api_keys import cache, repository
from pyairtable_platform.core.api_keys.models import ApiKey
from pyairtable_platform.core.api_keys.schemas import ApiKeyCreate
from pyairtable_platform.core.auth import permissions
from pyairtable_platform.core.auth.permissions import Action
from pyairtable_platform.core.auth.state import AuthState
from pyairtable_platform.core.auth.unit import after_commit, transaction
from pyairtable_platform.kit.auth import (
    API_KEY_CACHE_TTL_SECONDS,
    API_KEY_REVOKED_MARKER,
    Identity,
    api_key_cache_key,
    api_key_hash,
    parse_api_key,
)
from pyairtable_platform.kit.errors import BadRequest, Forbidden, NotFound, Unauthorized
from pyairtable_platform.kit.security import constant_time_equals

_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
TOUCH_INTERVAL_SECONDS = 60


def generate_key() -> tuple[str, str]:
    """A new key and its visible prefix: ``pap_<prefix>_<43 url-safe characters>``."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
    return f"pap_{prefix}_{secrets.token_urlsafe(32)}", prefix


def _active_workspace(identity: Identity) -> uuid.UUID:
    if identity.workspace_id is None:
        raise Forbidden("no active workspace: create one or accept an invitation first")
    return identity.workspace_id


async def create(
    session: AsyncSession, identity: Identity, body: ApiKeyCreate
) -> tuple[ApiKey, str]:
    """Create a key for the caller in their active workspace; the full key is returned once."""
    workspace_id = _active_workspace(identity)
    action = Action.API_KEYS_CREATE_WRITE if body.scope == "write" else Action.API_KEYS_CREATE_READ
    permissions.check_identity(identity, action)
    if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
        raise BadRequest("expires_at must be in the future")
    for _ in range(5):
        key, prefix = generate_key()
        if not await repository.prefix_exists(session, prefix):
            break
    row = await repository.insert(
        session,
        workspace_id=workspace_id,
        user_id=identity.user_id,
        name=body.name.strip() or "API key",
        prefix=prefix,
        key_hash=api_key_hash(key),
        scope=body.scope,
        expires_at=body.expires_at,
    )
    return row, key


async def list_keys(session: AsyncSession, identity: Identity, *, all_users: bool) -> list[ApiKey]:
    """The caller's live keys in the active workspace (everyone's for owners/admins with
    ``all_users``)."""
    workspace_id = _active_workspace(identity)
    permissions.check_identity(identity, Action.API_KEYS_READ)
    if all_users:
        permissions.check_identity(identity, Action.API_KEYS_READ_ALL)
    return await repository.list_for_workspace(
        session, workspace_id, None if all_users else identity.user_id
    )


async def revoke(
    state: AuthState, session: AsyncSession, identity: Identity, key_id: uuid.UUID
) -> None:
    """Revoke a key of the active workspace: your own, or anyone's as owner/admin."""
    workspace_id = _active_workspace(identity)
    row = await repository.get(session, workspace_id, key_id)
    if row is None or row.revoked_at is not None:
        raise NotFound("API key not found")
    own = row.user_id == identity.user_id
    if not own and not permissions.allowed(
        identity.role, identity.scope, Action.API_KEYS_REVOKE_ANY
    ):
        # Someone else's key you may not manage: as if it did not exist.
        raise NotFound("API key not found")
    permissions.check_identity(identity, Action.API_KEYS_REVOKE_OWN)
    await repository.revoke(session, key_id)
    key_hash = row.key_hash

    async def invalidate() -> None:
        await cache.mark_revoked(state.redis, [key_hash])

    after_commit(session, invalidate)


async def resolve(state: AuthState, key: str) -> Identity:
    """The identity behind an API key, or :class:`Unauthorized`. Cached in Redis for a
    minute under the same entry the gateway reads; revocation replaces the entry."""
    prefix, _ = parse_api_key(key)
    key_hash = api_key_hash(key)
    cache_key = api_key_cache_key(key_hash)
    # One round trip: the cached identity, and the flag that throttles ``last_used_at``
    # updates to one a minute (set here whatever the answer; only a valid key is touched).
    try:
        pipe = state.redis.pipeline(transaction=False)
        pipe.get(cache_key)
        pipe.set(_used_key(key_hash), b"1", nx=True, ex=TOUCH_INTERVAL_SECONDS)
        cached, first_use = await pipe.execute()
    except RedisError:
        cached, first_use = None, False
    if cached == API_KEY_REVOKED_MARKER:
        raise Unauthorized("invalid API key")
    if cached is not None:
        try:
            identity = Identity.from_json(cached)
        except ValueError:
            pass
        else:
            await _touch(state, identity, first_use)
            return identity
    async with transaction(state.factory) as session:
        row = await repository.lookup_by_prefix(session, prefix)
    now = datetime.now(UTC)
    if (
        row is None
        or not constant_time_equals(row.key_hash, key_hash)
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
        or not row.user_active
        or row.role is None
    ):
        raise Unauthorized("invalid API key")
    identity = Identity(
        user_id=row.user_id,
        workspace_id=row.workspace_id,
        role=row.role,
        scope="write" if row.scope == "write" else "read",
        kind="api_key",
        api_key_id=row.id,
        jti=None,
        is_platform_admin=row.is_platform_admin,
    )
    ttl = API_KEY_CACHE_TTL_SECONDS
    if row.expires_at is not None:
        ttl = max(1, min(ttl, int((row.expires_at - now).total_seconds())))
    with contextlib.suppress(RedisError):
        await state.redis.set(cache_key, identity.to_json(), ex=ttl, nx=True)
    await _touch(state, identity, first_use)
    return identity


def _used_key(key_hash: str) -> str:
    return f"pap:auth:apikey:used:{key_hash}"


async def _touch(state: AuthState, identity: Identity, first_use: bool) -> None:
    """Record ``last_used_at`` when this is the key's first use in the throttle's minute."""
    if identity.api_key_id is None:
        return
    if first_use:
        async with transaction(
            state.factory, user_id=identity.user_id, workspace_id=identity.workspace_id
        ) as session:
            await repository.touch(session, identity.api_key_id)
