"""Request dependencies: token → workspace (RLS context), rate limit, JSON bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.kit.app import Resources
from pyairtable_platform.kit.db import set_tenant_context

from .exceptions import authentication_required, invalid_request
from .limits import RateLimits, check_rate
from .repository import SandboxRepository, TokenIdentity
from .tokens import hash_token, identify


@dataclass
class SandboxCall:
    """One authenticated sandbox request: its token, workspace and unit of work."""

    session: AsyncSession
    identity: TokenIdentity
    repo: SandboxRepository
    redis: Redis
    token_hash: str


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


async def sandbox_call(request: Request) -> AsyncIterator[SandboxCall]:
    resources = _resources(request)
    token = bearer_token(request)
    if token is None:
        raise authentication_required()
    assert resources.session_factory is not None, "core always has a database"
    limits: RateLimits = request.app.state.rate_limits
    async with resources.session_factory() as session, session.begin():
        identity = await identify(session, token)
        if identity is None:
            raise authentication_required()
        await set_tenant_context(session, user_id=None, workspace_id=identity.workspace_id)
        await check_rate(
            resources.redis, limits, str(identity.token_id), request.path_params.get("base_id")
        )
        yield SandboxCall(
            session=session,
            identity=identity,
            repo=SandboxRepository(session, identity.workspace_id),
            redis=resources.redis,
            token_hash=hash_token(token),
        )


Call = Annotated[SandboxCall, Depends(sandbox_call, scope="function")]


async def json_body(request: Request) -> Any:
    """The request body as JSON; malformed JSON is Airtable's 422, never a 500."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid_request(
            "Invalid request: parameter validation failed. Check your request data."
        ) from None


async def json_object(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object")
    return body


JsonObject = Annotated[dict[str, Any], Depends(json_object)]
