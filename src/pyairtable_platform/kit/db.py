"""Database engine, sessions and the row-level-security context.

Every unit of work runs in one transaction whose first statement sets
``app.current_user_id``, ``app.current_workspace_id`` and ``app.request_id`` with
``set_config(..., true)``: the values die with the transaction, so a pooled connection can
never leak one tenant's context into another's request.
"""

from __future__ import annotations

import select
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import MetaData, event, exc, text
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


# A pooled connection back in use within this many seconds is checked without a round trip
# (see :class:`CheckoutCheck`); one idle for longer is pinged.
PING_AFTER_IDLE_SECONDS = 10.0
_CHECKED_IN_AT = "pap_checked_in_at"


class CheckoutCheck:
    """SQLAlchemy's ``pool_pre_ping``, without its round trip on a busy pool.

    A pre-ping is a ``SELECT 1`` per checkout: a fifth of the CPU of a short transaction.
    A connection PostgreSQL ended (restart, ``pg_terminate_backend``, idle timeout) has its
    closing message or EOF waiting on the socket, which a zero-timeout ``poll`` sees; an
    idle pooled connection otherwise has nothing to read. So the check pings only when
    something is waiting, when the driver saw the connection break, or when it sat idle long
    enough for a silent network drop; a failed ping invalidates the pool, as a failed
    pre-ping does, and the pool reconnects.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.dialect = engine.sync_engine.dialect
        event.listen(engine.sync_engine, "checkin", self.checked_in)
        event.listen(engine.sync_engine, "checkout", self.checkout)

    @staticmethod
    def checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @staticmethod
    def suspicious(driver: Any) -> bool:
        try:
            if driver.closed or driver.broken:
                return True
            poller = select.poll()  # not select.select: no limit on the descriptor's number
            poller.register(driver.pgconn.socket, select.POLLIN)
            waiting = poller.poll(0)
        except Exception:  # a connection that cannot be inspected is pinged
            return True
        return bool(waiting)

    def checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get(_CHECKED_IN_AT)
        recent = idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS
        if recent and not self.suspicious(proxy.driver_connection):
            return
        try:
            self.dialect.do_ping(dbapi_connection)
        except Exception as err:
            raise exc.InvalidatePoolError(f"connection failed its ping: {err}") from err


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    statement_timeout_ms: int = 30_000,
    application_name: str = "pyairtable-platform",
) -> AsyncEngine:
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        connect_args={
            "application_name": application_name,
            "options": f"-c statement_timeout={statement_timeout_ms}",
            "connect_timeout": 5,
        },
    )
    CheckoutCheck(engine)
    return engine


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


_SET_TENANT_CONTEXT = (
    "SELECT set_config('app.current_user_id', %(uid)s, true),"
    " set_config('app.current_workspace_id', %(wid)s, true),"
    " set_config('app.request_id', %(rid)s, true)"
)


async def set_tenant_context(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | str | None,
    workspace_id: uuid.UUID | str | None,
    request_id: str | None = None,
) -> None:
    """Set the RLS context for the current transaction only (``is_local = true``).

    Sent straight on the driver connection of the session's transaction: every unit of work
    starts here, and SQLAlchemy's statement machinery (compilation, result set-up) costs
    more CPU than the statement itself.
    """
    connection = await session.connection()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    await driver.execute(
        _SET_TENANT_CONTEXT,
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
