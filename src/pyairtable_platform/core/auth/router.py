"""The public key set and "who am I"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pyairtable_platform.core.accounts import repository as account_repository
from pyairtable_platform.core.accounts.schemas import WhoAmI
from pyairtable_platform.core.auth.deps import AuthDep, CurrentIdentity
from pyairtable_platform.core.auth.unit import transaction
from pyairtable_platform.kit.errors import Unauthorized
from pyairtable_platform.kit.responses import JSONResponse

router = APIRouter(tags=["auth"])


@router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(state: AuthDep) -> JSONResponse:
    """The Ed25519 public keys (JWKS) access tokens are signed with; verifiers cache them and
    re-read on an unknown ``kid``. During a key rotation both keys are listed."""
    return JSONResponse(state.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})


@router.get("/api/v1/auth/whoami", response_model=WhoAmI, summary="The verified caller")
async def whoami(identity: CurrentIdentity, state: AuthDep) -> Any:
    """Who the credential (access token or API key) belongs to, its active workspace, role
    and scope. The gateway and the ai service resolve API keys through this."""
    async with transaction(state.factory) as session:
        user = await account_repository.user_by_id(session, identity.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("this account is not active")
    return WhoAmI(
        user_id=identity.user_id,
        workspace_id=identity.workspace_id,
        role=identity.role,
        scope=identity.scope,
        kind=identity.kind,
        api_key_id=identity.api_key_id,
        email=user.email,
        is_platform_admin=identity.is_platform_admin,
        jti=identity.jti,
    )
