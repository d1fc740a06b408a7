"""Request dependencies of the ai service: the verified caller (zero trust: every request is
verified here, whatever the gateway already checked) and the shared resources.

- ``CurrentCaller``: the :class:`Caller` — the identity from an access token or API key, the
  raw credential (forwarded to core's MCP server so the model acts as this user) and the
  active workspace; 401 without a valid credential, 403 without a workspace.
- ``AiState``: the ai service's long-lived objects (JWKS cache, key ring, turn runner).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from pyairtable_platform.ai.state import AiState
from pyairtable_platform.kit.auth import (
    Identity,
    extract_credential,
    resolve_api_key,
    verify_access_token,
)
from pyairtable_platform.kit.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class Caller:
    identity: Identity
    credential: str
    workspace_id: uuid.UUID

    @property
    def user_id(self) -> uuid.UUID:
        return self.identity.user_id

    @property
    def is_admin(self) -> bool:
        return self.identity.role in ("owner", "admin")


async def get_state(request: Request) -> AiState:
    # ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in its
    # thread pool, a thread hop per request (and a pool of threads, each with its own malloc
    # arena, kept after a burst) for an attribute read.
    state: AiState = request.app.state.ai
    return state


StateDep = Annotated[AiState, Depends(get_state)]


async def get_caller(request: Request, state: StateDep) -> Caller:
    credential = extract_credential(request.headers)
    if credential is None:
        raise Unauthorized(
            "authentication required: send 'Authorization: Bearer <access token or API key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    kind, value = credential
    if kind == "api_key":
        identity = await resolve_api_key(
            value, state.resources.redis, state.resources.http, state.settings.core_url
        )
    else:
        identity = await verify_access_token(value, state.jwks)
    if identity.workspace_id is None:
        raise Forbidden("no active workspace: switch to a workspace before chatting")
    return Caller(identity=identity, credential=value, workspace_id=identity.workspace_id)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


async def get_admin(caller: CurrentCaller) -> Caller:
    if not caller.is_admin:
        raise Forbidden("only workspace owners and admins may change this")
    return caller


AdminCaller = Annotated[Caller, Depends(get_admin)]
