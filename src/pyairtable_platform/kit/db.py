"""Database engine, sessions and the row-level-security context.

Every unit of work runs in one transaction whose first statement sets
``app.current_user_id``, ``app.current_workspace_id`` and ``app.request_id`` with
``set_config(..., true)``: the values die with the transaction, so a pooled connection can
never leak one tenant's context into another's request.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from pyairtable_platform.kit.context import current_request_id

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def async_url(url: str) -> str:
    """Normalise any PostgreSQL URL to the psycopg 3 async dialect."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("not a PostgreSQL URL")


def plain_url(url: str) -> str:
    """The libpq form of a URL (for psql, psycopg.connect and procrastinate)."""
    return "postgresql://" + async_url(url)[len("postgresql+psycopg://") :]


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    statement_timeout_ms: int = 30_000,
    application_name: str = "pyairtable-platform",
) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "application_name": application_name,
            "options": f"-c statement_timeout={statement_timeout_ms}",
            "connect_timeout": 5,
        },
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def set_tenant_context(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | str | None,
    workspace_id: uuid.UUID | str | None,
    request_id: str | None = None,
) -> None:
    """Set the RLS context for the current transaction only (``is_local = true``)."""
    await session.execute(
        text(
            "SELECT set_config('app.current_user_id', :uid, true),"
            " set_config('app.current_workspace_id', :wid, true),"
            " set_config('app.request_id', :rid, true)"
        ),
        {
            "uid": str(user_id) if user_id else "",
            "wid": str(workspace_id) if workspace_id else "",
            "rid": request_id or current_request_id() or "",
        },
    )


@asynccontextmanager
async def unit_of_work(
    factory: async_sessionmaker[AsyncSession],
    *,
    user_id: uuid.UUID | str | None = None,
    workspace_id: uuid.UUID | str | None = None,
) -> AsyncIterator[AsyncSession]:
    """One transaction with the tenant context set; commits on success, rolls back on error."""
    async with factory() as session, session.begin():
        await set_tenant_context(session, user_id=user_id, workspace_id=workspace_id)
        yield session


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def redact(url: str) -> str:
    """A URL with its password replaced, for logs and error messages."""
    from sqlalchemy.engine import make_url

    return make_url(async_url(url)).render_as_string(hide_password=True)


def row_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)
