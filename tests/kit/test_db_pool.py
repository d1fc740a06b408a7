"""The connection pool's checkout check: healthy connections are reused as they are, and a
connection PostgreSQL ended is replaced before a request sees it (what ``pool_pre_ping``
guaranteed, without its round trip per checkout)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pyairtable_platform.devinfra.throwaway import Infra
from pyairtable_platform.kit.db import create_engine, create_session_factory, unit_of_work


@pytest.fixture
async def engine(infra: Infra) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(infra.app_url, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


async def backend_pid(engine: AsyncEngine) -> int:
    async with unit_of_work(create_session_factory(engine), user_id=uuid.uuid4()) as session:
        pid: int = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return pid


def terminate(infra: Infra, pid: int, timeout: float = 10.0) -> None:
    with psycopg.connect(infra.superuser_url, autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        deadline = time.monotonic() + timeout
        while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, f"backend {pid} did not exit"
            time.sleep(0.05)


async def test_a_healthy_pooled_connection_is_reused_by_the_next_unit_of_work(
    engine: AsyncEngine,
) -> None:
    first = await backend_pid(engine)
    assert await backend_pid(engine) == first


async def test_a_connection_the_server_terminated_is_replaced_before_it_is_used(
    infra: Infra, engine: AsyncEngine
) -> None:
    first = await backend_pid(engine)
    terminate(infra, first)

    # The pool's only connection is dead; the unit of work still succeeds, on a new one.
    second = await backend_pid(engine)
    assert second != first
    assert await backend_pid(engine) == second
