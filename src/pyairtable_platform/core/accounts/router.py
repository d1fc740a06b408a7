"""``/api/v1/auth/*`` (anonymous sign-in flows) and ``/api/v1/users/me`` (the profile)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from starlette.routing import Route

from pyairtable_platform.core.accounts import cache as profile_cache
from pyairtable_platform.core.accounts import service
from pyairtable_platform.core.accounts.schemas import (
    Accepted,
    DeactivateRequest,
    LoginRequest,
    LogoutRequest,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    ProfileUpdate,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    TokenRequest,
    UserOut,
)
from pyairtable_platform.core.auth.deps import (
    AuthDep,
    CurrentIdentity,
    IdentityReads,
    OptionalIdentity,
    PublicSession,
    TenantSession,
    access_claims,
    get_auth_state,
    identity_reading,
    read_identity,
    session_id,
)
from pyairtable_platform.kit.responses import JSONResponse

router = APIRouter(tags=["accounts"])


async def client_info(request: Request, state: AuthDep) -> service.ClientInfo:
    ip = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and state.settings.trust_forwarded_for:
        # The gateway appends the address it saw: the last hop is the one it vouches for.
        ip = forwarded.split(",")[-1].strip() or ip
    return service.ClientInfo(ip=ip, user_agent=request.headers.get("user-agent"))


Client = Annotated[service.ClientInfo, Depends(client_info)]

_NO_STORE = {"Cache-Control": "no-store"}


def _tokens(pair: TokenPair, status_code: int = 200) -> JSONResponse:
    return JSONResponse(pair.model_dump(mode="json"), status_code=status_code, headers=_NO_STORE)


@router.post(
    "/api/v1/auth/register", response_model=TokenPair, status_code=201, summary="Create an account"
)
async def register(
    body: RegisterRequest, session: PublicSession, state: AuthDep, client: Client
) -> JSONResponse:
    """Create an account and a personal workspace you own, and sign in. Passwords need 10+
    characters and must not be common. A verification mail goes to the address."""
    return _tokens(await service.register(state, session, body, client), 201)


@router.post("/api/v1/auth/login", response_model=TokenPair, summary="Sign in")
async def login(
    body: LoginRequest, session: PublicSession, state: AuthDep, client: Client
) -> JSONResponse:
    """Exchange email and password for an access token (15 min) and a refresh token.
    Repeated failures lock the account and the client address with growing delays (429)."""
    return _tokens(await service.login(state, session, body, client))


@router.post("/api/v1/auth/refresh", response_model=TokenPair, summary="Rotate tokens")
async def refresh(body: RefreshRequest, state: AuthDep, client: Client) -> JSONResponse:
    """Exchange a refresh token for a new pair. Each refresh token works once; presenting a
    used one revokes the whole session (it was copied) and answers 401."""
    return _tokens(await service.refresh(state, body.refresh_token, client))


@router.post("/api/v1/auth/logout", status_code=204, summary="Sign out")
async def logout(
    request: Request,
    state: AuthDep,
    identity: OptionalIdentity,
    body: LogoutRequest | None = None,
) -> Response:
    """End the session of the access token and/or the refresh token given: the refresh token
    family is revoked and the access token stops working."""
    claims = access_claims(request) if identity is not None else None
    await service.logout(state, claims=claims, refresh_token=body.refresh_token if body else None)
    return Response(status_code=204)


@router.post("/api/v1/auth/verify-email", status_code=204, summary="Confirm an email address")
async def verify_email(body: TokenRequest, session: PublicSession, state: AuthDep) -> Response:
    """Confirm the address with the token from the verification mail (single use)."""
    await service.verify_email(state, session, body.token)
    return Response(status_code=204)


@router.post(
    "/api/v1/auth/password-reset/request",
    response_model=Accepted,
    status_code=202,
    summary="Ask for a password reset mail",
)
async def password_reset_request(
    body: PasswordResetRequest, session: PublicSession, state: AuthDep
) -> Accepted:
    """Mail a reset link if an account has this address. The answer is the same whether or
    not it exists."""
    await service.request_password_reset(state, session, body.email)
    return Accepted(detail="if an account uses this address, a reset link is on its way")


@router.post("/api/v1/auth/password-reset/confirm", status_code=204, summary="Reset the password")
async def password_reset_confirm(
    body: PasswordResetConfirm, session: PublicSession, state: AuthDep
) -> Response:
    """Set a new password with the mailed token (single use, expiring); every session of
    the account is signed out."""
    await service.confirm_password_reset(state, session, body.token, body.new_password)
    return Response(status_code=204)


CallerAndProfile = Annotated[IdentityReads, identity_reading(profile_cache.keys_for)]


@router.get("/api/v1/users/me", response_model=UserOut, summary="Your profile")
async def get_me(caller: CallerAndProfile, state: AuthDep) -> Response:
    """The signed-in user's profile. Answered from a short-lived cache (invalidated by every
    change to the profile), so it is cheap enough to call on every page load."""
    body = await service.profile_json(state, caller.identity, caller.values[0])
    # The bytes are already a rendered UserOut: sent as they are, not re-validated.
    return Response(body, media_type="application/json")


async def _get_me_direct(request: Request) -> Response:
    """``get_me`` without FastAPI's dependency machinery: the same calls in the same order."""
    state = await get_auth_state(request)
    caller = await read_identity(request, state, profile_cache.keys_for)
    body = await service.profile_json(state, caller.identity, caller.values[0])
    return Response(body, media_type="application/json")


# The profile is the most-read endpoint (every page load) and its cached answer costs a
# fraction of what FastAPI's routing and dependency resolution do around it, so core
# serves it from this plain route placed ahead of the others; ``get_me`` above documents
# it in OpenAPI and answers identically (docs/decisions/0005-gateway.md, "hot path").
direct_routes = [Route("/api/v1/users/me", _get_me_direct, methods=["GET"])]


@router.patch("/api/v1/users/me", response_model=UserOut, summary="Update your profile")
async def update_me(
    body: ProfileUpdate, identity: CurrentIdentity, session: TenantSession, state: AuthDep
) -> UserOut:
    """Change your name."""
    return service.user_out(await service.update_me(state, session, identity, body))


@router.post("/api/v1/users/me/password", status_code=204, summary="Change your password")
async def change_password(
    body: PasswordChange, request: Request, identity: CurrentIdentity, session: TenantSession
) -> Response:
    """Change the password (the current one is required). Your other sessions are signed
    out; this one stays."""
    await service.change_password(session, identity, body, session_id(request))
    return Response(status_code=204)


@router.delete("/api/v1/users/me", status_code=204, summary="Deactivate your account")
async def deactivate(
    body: DeactivateRequest, identity: CurrentIdentity, session: TenantSession, state: AuthDep
) -> Response:
    """Deactivate the account (send ``{"password"}``): every session, access token and API
    key stops working at once."""
    await service.deactivate(state, session, identity, body)
    return Response(status_code=204)
