"""SQL of the MCP tools: the ``files`` row of an export (a tenant table under RLS)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_export_file(
    session: AsyncSession,
    *,
    file_id: uuid.UUID,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    filename: str,
    size: int,
    sha256: str,
    path: str,
    metadata: dict[str, Any],
) -> None:
    await session.execute(
        text(
            "INSERT INTO files (id, workspace_id, uploaded_by, filename, original_filename,"
            " mime_type, size_bytes, sha256, storage_path, status, processed_at, metadata)"
            " VALUES (:id, :w, :u, :name, :name, 'text/csv', :size, :sha, :path, 'processed',"
            " now(), CAST(:meta AS jsonb))"
        ),
        {
            "id": file_id,
            "w": workspace_id,
            "u": user_id,
            "name": filename,
            "size": size,
            "sha": sha256,
            "path": path,
            "meta": orjson.dumps(metadata).decode(),
        },
    )
