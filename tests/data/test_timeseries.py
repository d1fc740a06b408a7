"""The time-series module and the analytics queries, on both paths: native partitions (the
host's PostgreSQL) and TimescaleDB hypertables (PostgreSQL 17 from the Debian root)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.core.analytics.repository import AnalyticsRepository
from pyairtable_platform.core.analytics.tasks import maintain_time_series
from pyairtable_platform.kit import timeseries
from pyairtable_platform.kit.db import create_engine, create_session_factory, unit_of_work
from tests.data.conftest import Database, Tenant, make_tenant


@asynccontextmanager
async def app_factory(db: Database) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(db.app_url, pool_size=2)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


def fresh_tenant(db: Database, label: str) -> Tenant:
    with psycopg.connect(db.superuser_url, autocommit=True) as su:
        return make_tenant(su, label)


DAY0 = (datetime.now(UTC) - timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)
DAY1 = DAY0 + timedelta(days=1)
ROWS: list[dict[str, Any]] = [
    # created_at, model, tool, cost, latency, success
    {
        "at": DAY0 + timedelta(hours=10, minutes=15),
        "model": "gpt",
        "tool": None,
        "cost": "0.5",
        "latency": 100,
        "ok": True,
    },
    {
        "at": DAY0 + timedelta(hours=10, minutes=45),
        "model": "gpt",
        "tool": None,
        "cost": "0.25",
        "latency": 300,
        "ok": True,
    },
    {
        "at": DAY0 + timedelta(hours=13),
        "model": "gem",
        "tool": "list_records",
        "cost": "0.1",
        "latency": 200,
        "ok": False,
    },
    {
        "at": DAY1 + timedelta(hours=9),
        "model": "gem",
        "tool": "list_records",
        "cost": "1.0",
        "latency": 50,
        "ok": True,
    },
]


async def _load_usage(factory: async_sessionmaker[AsyncSession], tenant: Tenant) -> None:
    async with unit_of_work(factory, user_id=tenant.user_id, workspace_id=tenant.workspace_id) as s:
        await timeseries.ensure_partitions(s, "api_usage_logs", since=DAY0 - timedelta(days=1))
    async with unit_of_work(factory, user_id=tenant.user_id, workspace_id=tenant.workspace_id) as s:
        for row in ROWS:
            await s.execute(
                text(
                    "INSERT INTO api_usage_logs (created_at, workspace_id, user_id, model,"
                    " tool_name, input_tokens, output_tokens, total_tokens, cost_usd,"
                    " latency_ms, success)"
                    " VALUES (:at, :ws, :user, :model, :tool, 100, 50, 150, :cost, :latency, :ok)"
                ),
                {**row, "ws": tenant.workspace_id, "user": tenant.user_id},
            )


def test_bucket_builds_time_bucket_or_date_bin() -> None:
    assert (
        timeseries.bucket("1 hour", "created_at", timescale=True)
        == "time_bucket(INTERVAL '1 hours', created_at)"
    )
    assert timeseries.bucket(timedelta(days=1), "u.created_at", timescale=False) == (
        "date_bin(INTERVAL '1440 minutes', u.created_at, TIMESTAMPTZ '2000-01-03 00:00:00+00')"
    )


@pytest.mark.parametrize(
    ("interval", "column"),
    [("1 month", "created_at"), ("0 days", "created_at"), ("1 day", "x; DROP TABLE users")],
)
def test_bucket_refuses_what_it_cannot_express_safely(interval: str, column: str) -> None:
    with pytest.raises(timeseries.TimeSeriesError):
        timeseries.bucket(interval, column, timescale=False)


async def test_the_tables_are_hypertables_or_partitioned_tables(ts_db: Database) -> None:
    async with app_factory(ts_db) as factory, unit_of_work(factory) as s:
        assert await timeseries.is_timescale(s) is (ts_db.kind == "timescale")
    with psycopg.connect(ts_db.superuser_url) as su:
        if ts_db.kind == "timescale":
            rows = su.execute(
                "SELECT hypertable_name, (SELECT d.time_interval FROM"
                " timescaledb_information.dimensions d WHERE d.hypertable_name = h.hypertable_name)"
                " FROM timescaledb_information.hypertables h ORDER BY 1"
            ).fetchall()
            assert rows == [
                ("api_usage_logs", timedelta(days=1)),
                ("conversation_messages", timedelta(days=7)),
            ]
        else:
            rows = su.execute(
                "SELECT c.relname FROM pg_partitioned_table p"
                " JOIN pg_class c ON c.oid = p.partrelid"
                " WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1"
            ).fetchall()
            assert rows == [("api_usage_logs",), ("conversation_messages",)]


async def test_ensure_partitions_creates_missing_partitions_once(ts_db: Database) -> None:
    since = datetime.now(UTC) - timedelta(days=60)
    async with app_factory(ts_db) as factory:
        async with unit_of_work(factory) as s:
            first = await timeseries.ensure_partitions(s, "conversation_messages", since=since)
        async with unit_of_work(factory) as s:
            again = await timeseries.ensure_partitions(s, "conversation_messages", since=since)
            with pytest.raises(timeseries.TimeSeriesError):
                await timeseries.ensure_partitions(s, "users")
    if ts_db.kind == "timescale":
        assert (first, again) == (0, 0)
    else:
        assert first >= 7
        assert again == 0


async def test_after_maintenance_no_chunk_or_partition_can_be_read_around_the_policies(
    ts_db: Database,
) -> None:
    tenant = fresh_tenant(ts_db, "P")
    async with app_factory(ts_db) as factory:
        await _load_usage(factory, tenant)
        await maintain_time_series(
            factory,
            ahead=timedelta(days=30),
            retention={"api_usage_logs": None, "conversation_messages": None},
        )
    if ts_db.kind == "timescale":
        children = "SELECT show_chunks(t)::text FROM unnest(%s::regclass[]) AS t"
    else:
        children = (
            "SELECT i.inhrelid::regclass::text FROM pg_inherits i"
            " WHERE i.inhparent = ANY(%s::regclass[])"
        )
    with psycopg.connect(ts_db.superuser_url) as su:
        names = [r[0] for r in su.execute(children, (list(timeseries.TIME_SERIES_TABLES),))]
        exposed = [
            name
            for name in names
            if su.execute(
                "SELECT has_table_privilege('application_user', %s, 'SELECT')", (name,)
            ).fetchone()
            != (False,)
        ]
    assert len(names) >= 2
    assert exposed == []


async def test_usage_and_cost_per_day_and_model_are_the_same_on_both_paths(
    ts_db: Database,
) -> None:
    tenant = fresh_tenant(ts_db, "U")
    async with app_factory(ts_db) as factory:
        await _load_usage(factory, tenant)
        async with unit_of_work(
            factory, user_id=tenant.user_id, workspace_id=tenant.workspace_id
        ) as s:
            repo = await AnalyticsRepository.create(s)
            window: dict[str, Any] = {"start": DAY0, "end": DAY1 + timedelta(days=1)}
            by_model = await repo.usage(granularity="day", by="model", **window)
            by_hour = await repo.usage(granularity="hour", by="workspace", **window)
            by_tool = await repo.usage(granularity="day", by="tool", **window)
            latency = await repo.latency(granularity="day", **window)

    assert [(p.bucket, p.key, p.requests, p.errors, p.cost_usd) for p in by_model] == [
        (DAY0, "gem", 1, 1, Decimal("0.1")),
        (DAY0, "gpt", 2, 0, Decimal("0.75")),
        (DAY1, "gem", 1, 0, Decimal("1.0")),
    ]
    assert by_model[1].total_tokens == 300
    ws = str(tenant.workspace_id)
    assert [(p.bucket, p.key, p.requests) for p in by_hour] == [
        (DAY0 + timedelta(hours=10), ws, 2),
        (DAY0 + timedelta(hours=13), ws, 1),
        (DAY1 + timedelta(hours=9), ws, 1),
    ]
    assert [(p.bucket, p.key, p.requests) for p in by_tool] == [
        (DAY0, None, 2),
        (DAY0, "list_records", 1),
        (DAY1, "list_records", 1),
    ]
    assert [(p.bucket, p.requests, p.p50_ms, p.p99_ms) for p in latency] == [
        (DAY0, 3, 200.0, pytest.approx(298.0)),
        (DAY1, 1, 50.0, 50.0),
    ]


async def test_analytics_see_nothing_of_another_workspace(ts_db: Database) -> None:
    owner, other = fresh_tenant(ts_db, "V"), fresh_tenant(ts_db, "W")
    async with app_factory(ts_db) as factory:
        await _load_usage(factory, owner)
        async with unit_of_work(
            factory, user_id=other.user_id, workspace_id=other.workspace_id
        ) as s:
            repo = await AnalyticsRepository.create(s)
            seen = await repo.usage(
                start=DAY0, end=DAY1 + timedelta(days=1), granularity="day", by="workspace"
            )
        async with unit_of_work(factory) as s:
            count = (await s.execute(text("SELECT count(*) FROM api_usage_logs"))).scalar()
    assert seen == []
    assert count == 0


async def test_retention_drops_old_chunks_and_keeps_recent_rows(ts_db: Database) -> None:
    tenant = fresh_tenant(ts_db, "R")
    old = datetime.now(UTC) - timedelta(days=45)
    async with app_factory(ts_db) as factory:
        await _load_usage(factory, tenant)
        ctx = {"user_id": tenant.user_id, "workspace_id": tenant.workspace_id}
        async with unit_of_work(factory, **ctx) as s:
            await timeseries.ensure_partitions(s, "api_usage_logs", since=old)
        async with unit_of_work(factory, **ctx) as s:
            await s.execute(
                text(
                    "INSERT INTO api_usage_logs (created_at, workspace_id, model)"
                    " VALUES (:at, :ws, 'old')"
                ),
                {"at": old, "ws": tenant.workspace_id},
            )
        results = await maintain_time_series(
            factory,
            ahead=timedelta(days=30),
            retention={"api_usage_logs": timedelta(days=30), "conversation_messages": None},
        )
        async with unit_of_work(factory, **ctx) as s:
            models = (
                (await s.execute(text("SELECT DISTINCT model FROM api_usage_logs ORDER BY 1")))
                .scalars()
                .all()
            )
            with pytest.raises(Exception, match="at least one day"):
                await timeseries.apply_retention(s, "api_usage_logs", timedelta(hours=2))
    usage = next(r for r in results if r.table == "api_usage_logs")
    assert usage.chunks_dropped >= 1
    assert models == ["gem", "gpt"]
