"""Jobs queued in the caller's transaction: they exist exactly when the change does."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pyairtable_platform.devinfra.throwaway import Infra
from pyairtable_platform.kit.db import create_engine, create_session_factory
from pyairtable_platform.kit.jobs import defer_in_transaction

TASK = "mirror:mirror.sync_base"


@pytest.fixture
async def factory(infra: Infra) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine: AsyncEngine = create_engine(infra.app_url, pool_size=2)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


def jobs_with_lock(infra: Infra, lock: str) -> list[tuple[str, str, dict[str, object]]]:
    with psycopg.connect(infra.owner_url) as conn:
        rows = conn.execute(
            "SELECT task_name, status::text, args FROM procrastinate_jobs WHERE queueing_lock = %s",
            (lock,),
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


async def test_a_job_queued_in_a_committed_transaction_is_waiting_with_its_arguments(
    infra: Infra, factory: async_sessionmaker[AsyncSession]
) -> None:
    lock = f"test:{uuid.uuid4()}"
    async with factory() as session, session.begin():
        job_id = await defer_in_transaction(
            session, TASK, {"base_id": "appX", "full": True}, lock=lock, queueing_lock=lock
        )
    assert isinstance(job_id, int)
    assert jobs_with_lock(infra, lock) == [(TASK, "todo", {"base_id": "appX", "full": True})]


async def test_a_job_queued_in_a_rolled_back_transaction_never_exists(
    infra: Infra, factory: async_sessionmaker[AsyncSession]
) -> None:
    lock = f"test:{uuid.uuid4()}"
    queued: list[int | None] = []

    async def change_that_fails() -> None:
        async with factory() as session, session.begin():
            queued.append(await defer_in_transaction(session, TASK, {}, queueing_lock=lock))
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError, match="the change failed"):
        await change_that_fails()
    assert len(queued) == 1
    assert queued[0] is not None
    assert jobs_with_lock(infra, lock) == []


async def test_a_second_job_with_a_waiting_queueing_lock_is_refused_and_the_transaction_goes_on(
    infra: Infra, factory: async_sessionmaker[AsyncSession]
) -> None:
    lock = f"test:{uuid.uuid4()}"
    async with factory() as session, session.begin():
        first = await defer_in_transaction(session, TASK, {"n": 1}, queueing_lock=lock)
        second = await defer_in_transaction(session, TASK, {"n": 2}, queueing_lock=lock)
        still_usable = (await session.execute(text("SELECT 41 + 1"))).scalar_one()
    assert first is not None
    assert second is None
    assert still_usable == 42
    assert jobs_with_lock(infra, lock) == [(TASK, "todo", {"n": 1})]
