"""Connections: how a workspace reaches Airtable (a personal access token) or the sandbox.

Tokens are validated with Airtable's ``whoami`` before they are stored, and stored only
encrypted (:class:`~pyairtable_platform.kit.crypto.SecretBox`, the workspace id as
associated data, so a ciphertext copied to another workspace's row does not decrypt).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.core.airtable.client import AirtableConnection
from pyairtable_platform.core.airtable.deps import AirtableDeps
from pyairtable_platform.core.airtable.exceptions import AirtableError, AirtableTokenInvalid
from pyairtable_platform.core.airtable.repository import ConnectionRepository, ConnectionRow
from pyairtable_platform.core.airtable.schemas import (
    ConnectionCreate,
    ConnectionOut,
    ConnectionTest,
)
from pyairtable_platform.core.mirror.repository import BaseRow
from pyairtable_platform.core.sandbox.tokens import issue_token
from pyairtable_platform.kit.crypto import CryptoError, SecretBox
from pyairtable_platform.kit.db import unit_of_work
from pyairtable_platform.kit.errors import Conflict, NotFound, PlatformError, ValidationFailed

logger = logging.getLogger(__name__)

AIRTABLE_ENDPOINT = "https://api.airtable.com"
SANDBOX_CONNECTION_NAME = "Sandbox"


class AirtableNotConnected(PlatformError):
    status_code = 424
    error = "airtable_not_connected"


class ConnectionNotFound(NotFound):
    error = "connection_not_found"


def _aad(workspace_id: uuid.UUID) -> str:
    return f"airtable_connections:{workspace_id}"


def token_hint(token: str) -> str:
    return f"…{token[-4:]}" if len(token) > 8 else "…"


def to_out(row: ConnectionRow) -> ConnectionOut:
    return ConnectionOut(
        id=row.id,
        name=row.name,
        kind=row.kind,
        auth_type=row.auth_type,
        token_hint=row.token_hint,
        scopes=list(row.scopes or []),
        status=row.status,
        last_verified_at=row.last_verified_at,
        last_error=row.last_error,
        airtable_user_id=(row.metadata or {}).get("airtable_user_id"),
        base_count=row.base_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def upstream_connection(row: ConnectionRow, deps: AirtableDeps) -> AirtableConnection:
    """The decrypted credential and endpoint of a stored connection."""
    if row.token_encrypted is None:
        raise AirtableNotConnected(
            f"connection {row.name!r} has no token; a workspace admin must reconnect it"
        )
    try:
        token = deps.secrets.decrypt_str(
            row.token_encrypted, associated_data=_aad(row.workspace_id)
        )
    except CryptoError:
        raise AirtableNotConnected(
            f"the token of connection {row.name!r} cannot be decrypted (the encryption key "
            "changed?); a workspace admin must rotate it"
        ) from None
    endpoint = deps.sandbox_endpoint if row.kind == "sandbox" else AIRTABLE_ENDPOINT
    return AirtableConnection(str(row.id), token, endpoint, str(row.workspace_id))


def _active(rows: list[ConnectionRow]) -> list[ConnectionRow]:
    if not rows:
        raise AirtableNotConnected(
            "this workspace is not connected to Airtable: a workspace admin can connect a "
            "personal access token or the sandbox (POST /api/v1/airtable/connections)"
        )
    return rows


class ConnectionService:
    def __init__(self, session: AsyncSession, deps: AirtableDeps) -> None:
        self.session = session
        self.deps = deps
        self.repo = ConnectionRepository(session)

    async def list_connections(self) -> list[ConnectionOut]:
        return [to_out(r) for r in await self.repo.all()]

    async def row(self, connection_id: uuid.UUID) -> ConnectionRow:
        row = await self.repo.get(connection_id)
        if row is None:
            raise ConnectionNotFound(f"no Airtable connection {connection_id} in this workspace")
        return row

    async def active_rows(self) -> list[ConnectionRow]:
        return _active([r for r in await self.repo.all() if r.status == "active"])

    async def active_with_bases(self) -> tuple[list[ConnectionRow], list[BaseRow]]:
        """The active connections, and every base the mirror knows (of any connection)."""
        pairs = await self.repo.all_with_bases()
        rows = _active([c for c, _ in pairs if c.status == "active"])
        return rows, [b for _, bases in pairs for b in bases]

    async def _whoami(self, kind: str, token: str, workspace_id: uuid.UUID) -> dict[str, Any]:
        endpoint = self.deps.sandbox_endpoint if kind == "sandbox" else AIRTABLE_ENDPOINT
        probe = AirtableConnection(f"probe-{uuid.uuid4().hex}", token, endpoint, str(workspace_id))
        client = await self.deps.clients.get(probe)
        try:
            return await client.whoami()
        except AirtableTokenInvalid as exc:
            raise ValidationFailed(
                "Airtable rejected this token (revoked, expired or mistyped); create a personal "
                "access token with the scopes data.records:read/write and schema.bases:read/write",
                extra={"error_code": "airtable_token_invalid"},
            ) from exc
        finally:
            await self.deps.clients.forget(probe.connection_id)

    async def create(
        self, workspace_id: uuid.UUID, user_id: uuid.UUID | None, body: ConnectionCreate
    ) -> ConnectionOut:
        """Validate and store a connection (a sandbox one without a token gets a new one)."""
        if await self.repo.find_by_name(body.name) is not None:
            raise Conflict(f"a connection named {body.name!r} exists; pick another name")
        token = body.token.get_secret_value().strip() if body.token else None
        metadata: dict[str, Any] = {}
        scopes: list[str] = []
        if token:
            me = await self._whoami(body.kind, token, workspace_id)
            metadata["airtable_user_id"] = me.get("id")
            scopes = [str(s) for s in me.get("scopes", [])]
        elif body.kind == "sandbox":
            issued = await issue_token(
                self.session, workspace_id, name="Platform connection", user_id=user_id
            )
            token = issued.token
            metadata["airtable_user_id"] = issued.airtable_user_id
            metadata["sandbox_token_id"] = str(issued.id)
        else:
            raise ValidationFailed("token: a personal access token is required for Airtable")
        connection_id = await self.repo.insert(
            workspace_id=workspace_id,
            created_by=user_id,
            name=body.name,
            kind=body.kind,
            auth_type="pat",
            token_encrypted=self.deps.secrets.encrypt(token, associated_data=_aad(workspace_id)),
            token_hint=token_hint(token),
            scopes=scopes,
            metadata=metadata,
        )
        return to_out(await self.row(connection_id))

    async def test(self, connection_id: uuid.UUID) -> ConnectionTest:
        """Ask Airtable who the token is; the connection's status follows the answer."""
        row = await self.row(connection_id)
        connection = upstream_connection(row, self.deps)
        client = await self.deps.clients.get(connection)
        try:
            me = await client.whoami()
        except AirtableTokenInvalid as exc:
            await self.repo.set_status(row.id, "invalid", exc.detail[:500], verified=True)
            return ConnectionTest(ok=False, status="invalid", error=exc.detail)
        except AirtableError as exc:
            # Airtable unreachable says nothing about the token: the status stays.
            return ConnectionTest(ok=False, status=row.status, error=exc.detail)
        await self.repo.set_status(row.id, "active", None, verified=True)
        return ConnectionTest(
            ok=True,
            status="active",
            airtable_user_id=me.get("id"),
            scopes=[str(s) for s in me.get("scopes", [])],
        )

    async def rotate(self, connection_id: uuid.UUID, new_token: str | None) -> ConnectionOut:
        """Replace the token (validated first); a sandbox connection may get a new one."""
        row = await self.row(connection_id)
        metadata: dict[str, Any] = {}
        scopes = list(row.scopes or [])
        token = new_token.strip() if new_token else None
        if token:
            me = await self._whoami(row.kind, token, row.workspace_id)
            metadata["airtable_user_id"] = me.get("id")
            scopes = [str(s) for s in me.get("scopes", [])]
        elif row.kind == "sandbox":
            issued = await issue_token(self.session, row.workspace_id, name="Platform connection")
            token = issued.token
            metadata = {
                "airtable_user_id": issued.airtable_user_id,
                "sandbox_token_id": str(issued.id),
            }
        else:
            raise ValidationFailed("token: the new personal access token is required")
        await self.repo.set_token(
            row.id,
            token_encrypted=self.deps.secrets.encrypt(
                token, associated_data=_aad(row.workspace_id)
            ),
            token_hint=token_hint(token),
            scopes=scopes,
            metadata=metadata,
        )
        await self.deps.clients.forget(str(row.id))
        return to_out(await self.row(connection_id))

    async def remove(self, connection_id: uuid.UUID) -> None:
        """Delete the connection and everything mirrored through it."""
        row = await self.row(connection_id)
        await self.repo.delete(row.id)
        await self.deps.clients.forget(str(row.id))


async def ensure_sandbox_connection(
    factory: async_sessionmaker[AsyncSession],
    secrets: SecretBox,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID | None,
    base: tuple[str, str] | None = None,
) -> tuple[uuid.UUID, bool]:
    """The workspace's sandbox connection, created if missing (idempotent, for ``seed``);
    ``base`` (id, name) is registered for the mirror so the scheduler syncs it."""
    from pyairtable_platform.core.mirror.repository import MirrorRepository

    async with unit_of_work(factory, user_id=user_id, workspace_id=workspace_id) as session:
        repo = ConnectionRepository(session)
        row = await repo.find_by_name(SANDBOX_CONNECTION_NAME)
        created = row is None
        if row is None:
            issued = await issue_token(
                session, workspace_id, name="Platform connection", user_id=user_id
            )
            connection_id = await repo.insert(
                workspace_id=workspace_id,
                created_by=user_id,
                name=SANDBOX_CONNECTION_NAME,
                kind="sandbox",
                auth_type="pat",
                token_encrypted=secrets.encrypt(issued.token, associated_data=_aad(workspace_id)),
                token_hint=token_hint(issued.token),
                scopes=[],
                metadata={
                    "airtable_user_id": issued.airtable_user_id,
                    "sandbox_token_id": str(issued.id),
                },
            )
        else:
            connection_id = row.id
        if base is not None:
            await MirrorRepository(session).upsert_base(connection_id, base[0], base[1], "create")
    return connection_id, created
