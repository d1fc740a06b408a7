"""All SQL of the actions domain. ``actions`` is a tenant table (RLS on workspace); every
change to it is copied into ``audit_log`` by the generic trigger, with the acting user."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.actions.models import Action


async def insert(session: AsyncSession, **values: Any) -> Action:
    action = Action(**values)
    session.add(action)
    await session.flush()
    await session.refresh(action)
    return action


async def get(session: AsyncSession, action_id: uuid.UUID, *, lock: bool = False) -> Action | None:
    query = select(Action).where(Action.id == action_id)
    if lock:
        # Two approvals (or a revert racing an apply) of one action serialise here.
        query = query.with_for_update()
    return await session.scalar(query)


async def save(session: AsyncSession, action: Action, **values: Any) -> Action:
    """Update columns of an action (one UPDATE, so the audit trail records this step)."""
    await session.execute(
        update(Action).where(Action.id == action.id).values(**values, updated_at=func.now())
    )
    await session.refresh(action)
    return action


async def list_actions(
    session: AsyncSession,
    *,
    status: str | None = None,
    base_id: str | None = None,
    table: str | None = None,
    channel: str | None = None,
    record_id: str | None = None,
    before: datetime | None = None,
    limit: int = 50,
) -> list[Action]:
    query = select(Action)
    if status == "expired":
        query = query.where(
            or_(
                Action.status == "expired",
                (Action.status == "previewed") & (Action.expires_at <= func.now()),
            )
        )
    elif status == "previewed":
        query = query.where(Action.status == "previewed", Action.expires_at > func.now())
    elif status is not None:
        query = query.where(Action.status == status)
    if base_id is not None:
        query = query.where(Action.base_id == base_id)
    if table is not None:
        query = query.where(or_(Action.table_id == table, Action.table_name == table))
    if channel is not None:
        query = query.where(Action.channel == channel)
    if record_id is not None:
        query = query.where(Action.record_ids.contains([record_id]))
    if before is not None:
        query = query.where(Action.created_at < before)
    query = query.order_by(Action.created_at.desc(), Action.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def api_key_requires_preview(session: AsyncSession, api_key_id: uuid.UUID) -> bool:
    value = (
        await session.execute(
            text("SELECT require_preview FROM api_keys WHERE id = :id"), {"id": api_key_id}
        )
    ).scalar_one_or_none()
    return bool(value)


async def workspace_settings(session: AsyncSession, workspace_id: uuid.UUID) -> dict[str, Any]:
    value = (
        await session.execute(
            text("SELECT settings FROM workspaces WHERE id = :id"), {"id": workspace_id}
        )
    ).scalar_one_or_none()
    return dict(value or {})


async def audit_trail(session: AsyncSession, action_id: uuid.UUID) -> list[dict[str, Any]]:
    """The audit rows of one action, oldest first (written by the trigger, read under RLS)."""
    rows = await session.execute(
        text(
            "SELECT operation, new_data->>'status' AS status, changed_fields, actor_user_id,"
            " created_at FROM audit_log WHERE table_name = 'actions' AND row_id = :id"
            " ORDER BY created_at"
        ),
        {"id": str(action_id)},
    )
    return [dict(row._mapping) for row in rows]


async def mirrored_matches(
    session: AsyncSession,
    *,
    base_id: str,
    table_id: str,
    fields: dict[str, Any],
    since: datetime,
    exclude: list[str],
    limit: int = 5,
) -> list[tuple[str, dict[str, Any]]]:
    """Mirrored records of a table created at or after ``since`` whose fields hold every
    given value (JSON containment, served by the mirror's GIN index on ``fields``), oldest
    first; ``exclude`` are ids already accounted for."""
    rows = await session.execute(
        text(
            "SELECT record_id, fields FROM airtable_records"
            " WHERE base_id = :base AND table_id = :table AND deleted_at IS NULL"
            " AND fields @> CAST(:fields AS jsonb)"
            " AND (airtable_created_time IS NULL OR airtable_created_time >= :since)"
            " AND NOT (record_id = ANY(:exclude))"
            " ORDER BY airtable_created_time NULLS LAST, record_id LIMIT :limit"
        ),
        {
            "base": base_id,
            "table": table_id,
            "fields": orjson.dumps(fields).decode(),
            "since": since,
            "exclude": exclude,
            "limit": limit,
        },
    )
    return [(row.record_id, dict(row.fields)) for row in rows]


async def uncertain_ids(session: AsyncSession, base_id: str | None = None) -> list[uuid.UUID]:
    """Uncertain writes of the workspace (of one base), oldest first."""
    query = select(Action.id).where(Action.status == "uncertain")
    if base_id is not None:
        query = query.where(Action.base_id == base_id)
    return list((await session.scalars(query.order_by(Action.created_at))).all())
