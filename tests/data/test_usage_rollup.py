"""The hourly usage rollup on both paths: the analytics repository's answer (clean closed hours
from ``api_usage_hourly``, everything else from raw rows) equals the raw-only answer; the
refresh is idempotent; late rows for an already rolled-up hour are exact at once and folded
into the rollup by the next refresh."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.core.analytics.repository import (
    AnalyticsRepository,
    Dimension,
    Granularity,
    RollupRefresh,
    RollupStatus,
    UsagePoint,
    plan_sources,
)
from pyairtable_platform.core.analytics.tasks import refresh_usage_rollup
from pyairtable_platform.kit import timeseries
from pyairtable_platform.kit.db import unit_of_work
from tests.data.conftest import Database, Tenant, run_as
from tests.data.test_timeseries import app_factory, fresh_tenant

H = timedelta(hours=1)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


# --- which ranges come from where (no database) ---


def test_plan_reads_whole_clean_closed_hours_from_the_rollup_and_the_rest_raw() -> None:
    start, end = T0 + timedelta(minutes=20), T0 + 6 * H + timedelta(minutes=5)
    status = RollupStatus(rolled_up_until=T0 + 5 * H, dirty_hours=[T0 + 2 * H, T0 + 9 * H])
    plan = plan_sources(start, end, status)
    assert plan.rollup == [(T0 + H, T0 + 2 * H), (T0 + 3 * H, T0 + 5 * H)]
    assert plan.raw == [(start, T0 + H), (T0 + 2 * H, T0 + 3 * H), (T0 + 5 * H, end)]


@pytest.mark.parametrize(
    ("start", "end", "watermark"),
    [
        (T0, T0 + 3 * H, None),  # never refreshed
        (T0 + timedelta(minutes=10), T0 + timedelta(minutes=50), T0 + 5 * H),  # inside an hour
        (T0 + 6 * H, T0 + 9 * H, T0 + 5 * H),  # entirely after the watermark
    ],
)
def test_plan_reads_everything_raw_when_the_rollup_cannot_help(
    start: datetime, end: datetime, watermark: datetime | None
) -> None:
    plan = plan_sources(start, end, RollupStatus(watermark))
    assert plan.rollup == []
    assert plan.raw == [(start, end)]


def test_plan_of_an_empty_window_reads_nothing() -> None:
    plan = plan_sources(T0 + H, T0, RollupStatus(T0 + 5 * H))
    assert (plan.rollup, plan.raw) == ([], [])


# --- against the database, on both paths ---

MODELS = ["gpt-4.1", "gemini-2.5-flash", "claude-4", None]
TOOLS = [None, None, "list_records", "update_records"]


def random_rows(rng: random.Random, tenant: Tenant, count: int) -> list[dict[str, Any]]:
    """Rows spread over the last three days, including the open hour."""
    now = datetime.now(UTC)
    rows = []
    for _ in range(count):
        inp, outp = rng.randint(0, 5000), rng.randint(0, 900)
        rows.append(
            {
                "at": now - timedelta(seconds=rng.randint(0, 3 * 86400)),
                "ws": tenant.workspace_id,
                "user": rng.choice([tenant.user_id, None]),
                "model": rng.choice(MODELS),
                "tool": rng.choice(TOOLS),
                "inp": inp,
                "outp": outp,
                "cost": Decimal(rng.randint(0, 10**6)) / Decimal(10**6),
                "latency": rng.choice([None, rng.randint(5, 3000)]),
                "ok": rng.random() > 0.1,
            }
        )
    return rows


INSERT = text(
    "INSERT INTO api_usage_logs (created_at, workspace_id, user_id, model, tool_name,"
    " input_tokens, output_tokens, total_tokens, cost_usd, latency_ms, success)"
    " VALUES (:at, :ws, :user, :model, :tool, :inp, :outp, :inp + :outp, :cost, :latency, :ok)"
)


async def insert(
    factory: async_sessionmaker[AsyncSession], tenant: Tenant, rows: list[dict[str, Any]]
) -> None:
    ctx = {"user_id": tenant.user_id, "workspace_id": tenant.workspace_id}
    async with unit_of_work(factory, **ctx) as s:
        await s.execute(INSERT, rows)


async def both_answers(
    factory: async_sessionmaker[AsyncSession],
    tenant: Tenant,
    *,
    start: datetime,
    end: datetime,
    granularity: Granularity,
    by: Dimension,
) -> tuple[list[UsagePoint], list[UsagePoint], RollupStatus]:
    ctx = {"user_id": tenant.user_id, "workspace_id": tenant.workspace_id}
    async with unit_of_work(factory, **ctx) as s:
        repo = await AnalyticsRepository.create(s)
        window: dict[str, Any] = {"start": start, "end": end, "granularity": granularity, "by": by}
        combined = await repo.usage(**window)
        raw = await repo.usage(**window, source="raw")
        status = await repo.rollup_status(start, end)
    return combined, raw, status


async def refresh(factory: async_sessionmaker[AsyncSession]) -> RollupRefresh:
    """A refresh that catches up whatever earlier tests left (one run rolls at most 7 days)."""
    return await refresh_usage_rollup(factory, max_span=timedelta(days=400))


def rollup_content(db: Database, tenant: Tenant) -> list[tuple[Any, ...]]:
    with psycopg.connect(db.superuser_url) as su:
        return su.execute(
            "SELECT bucket, user_id, model, tool_name, requests, errors, input_tokens,"
            " output_tokens, total_tokens, cost_usd, latency_count, latency_sum_ms"
            " FROM api_usage_hourly WHERE workspace_id = %s ORDER BY 1, 2, 3, 4",
            (tenant.workspace_id,),
        ).fetchall()


@pytest.mark.parametrize("seed", [1, 2])
async def test_rollup_plus_raw_rows_answer_exactly_what_raw_rows_alone_answer(
    ts_db: Database, seed: int
) -> None:
    rng = random.Random(seed)
    tenant = fresh_tenant(ts_db, f"Q{seed}")
    async with app_factory(ts_db) as factory:
        await insert(factory, tenant, random_rows(rng, tenant, 600))
        await refresh(factory)
        now = datetime.now(UTC)
        windows = [
            (now - timedelta(days=4), now + H),
            # edges in the middle of hours, a window ending before the open hour
            (
                now - timedelta(days=2, minutes=rng.randint(1, 59)),
                now - timedelta(hours=5, minutes=7),
            ),
        ]
        used_rollup = False
        for start, end in windows:
            for granularity in ("hour", "day"):
                for by in ("workspace", "user", "model", "tool"):
                    combined, raw, status = await both_answers(
                        factory, tenant, start=start, end=end, granularity=granularity, by=by
                    )
                    assert combined == raw, (start, end, granularity, by)
                    used_rollup |= bool(plan_sources(start, end, status).rollup)
    assert raw, "control: the window holds rows"
    assert used_rollup, "control: the rollup answered part of the windows"
    assert len(rollup_content(ts_db, tenant)) > 0


async def test_refresh_is_idempotent_even_when_it_rebuilds_rolled_up_hours(
    ts_db: Database,
) -> None:
    tenant = fresh_tenant(ts_db, "I")
    async with app_factory(ts_db) as factory:
        await insert(factory, tenant, random_rows(random.Random(7), tenant, 300))
        first = await refresh(factory)
        before = rollup_content(ts_db, tenant)
        again = await refresh(factory)
        # Move the watermark a day back: the next refresh rebuilds those hours from raw rows.
        with psycopg.connect(ts_db.superuser_url) as su:
            su.execute(
                "UPDATE api_usage_rollup_state SET rolled_up_until = %s",
                (first.rolled_up_until - timedelta(days=1),),  # type: ignore[operator]
            )
        rebuilt = await refresh(factory)
        after = rollup_content(ts_db, tenant)
    assert before, "control: the tenant has rolled-up hours"
    assert rebuilt.hours_rolled >= 24
    assert again.hours_rolled in (0, 1)  # 1 only if the clock crossed an hour meanwhile
    # Hours closed in between (the clock may cross an hour) only add rows at the end.
    assert after[: len(before)] == before
    assert all(row[0] >= before[-1][0] for row in after[len(before) :])


async def test_late_rows_for_a_rolled_up_hour_count_at_once_and_reach_the_rollup_next_refresh(
    ts_db: Database,
) -> None:
    tenant = fresh_tenant(ts_db, "L")
    rng = random.Random(11)
    async with app_factory(ts_db) as factory:
        await insert(factory, tenant, random_rows(rng, tenant, 200))
        await refresh(factory)
        now = datetime.now(UTC)
        late_hour = (now - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        late = random_rows(rng, tenant, 3)
        for i, row in enumerate(late):
            row.update(
                at=late_hour + timedelta(minutes=10 * i), model="late-model", user=tenant.user_id
            )
        await insert(factory, tenant, late)
        # And one rolled-up row disappears (a delete also dirties its hour).
        ctx = {"user_id": tenant.user_id, "workspace_id": tenant.workspace_id}
        async with unit_of_work(factory, **ctx) as s:
            deleted = (
                await s.execute(
                    text(
                        "DELETE FROM api_usage_logs WHERE id = (SELECT id FROM api_usage_logs"
                        " WHERE created_at < :before AND model IS DISTINCT FROM 'late-model'"
                        " ORDER BY created_at LIMIT 1) RETURNING created_at"
                    ),
                    {"before": late_hour},
                )
            ).scalar_one()
        window: dict[str, Any] = {
            "start": now - timedelta(days=3, hours=1),
            "end": now + H,
            "granularity": "hour",
            "by": "model",
        }
        combined, raw, status = await both_answers(factory, tenant, **window)
        assert late_hour in status.dirty_hours
        assert deleted.replace(minute=0, second=0, microsecond=0) in status.dirty_hours
        assert combined == raw
        assert [(p.bucket, p.requests) for p in combined if p.key == "late-model"] == [
            (late_hour, 3)
        ]

        refreshed = await refresh(factory)
        combined, raw, status = await both_answers(factory, tenant, **window)
    assert refreshed.dirty_hours >= 2
    assert late_hour not in status.dirty_hours
    assert combined == raw
    rolled = [r for r in rollup_content(ts_db, tenant) if r[2] == "late-model"]
    assert [(r[0], r[4]) for r in rolled] == [(late_hour, 3)]


async def test_rows_of_the_open_hour_do_not_mark_it_dirty(ts_db: Database) -> None:
    tenant = fresh_tenant(ts_db, "O")
    async with app_factory(ts_db) as factory:
        await insert(factory, tenant, random_rows(random.Random(3), tenant, 1))
        ctx = {"user_id": tenant.user_id, "workspace_id": tenant.workspace_id}
        async with unit_of_work(factory, **ctx) as s:
            await s.execute(
                text("INSERT INTO api_usage_logs (workspace_id, model) VALUES (:ws, 'now')"),
                {"ws": tenant.workspace_id},
            )
    with psycopg.connect(ts_db.superuser_url) as su:
        marked = su.execute(
            "SELECT count(*) FROM api_usage_rollup_dirty"
            " WHERE hour = date_bin('1 hour', now(), '2000-01-03 00:00:00+00')"
        ).fetchone()
    assert marked == (0,)


async def test_application_user_cannot_write_the_rollup_or_its_state(ts_db: Database) -> None:
    tenant = fresh_tenant(ts_db, "X")
    with psycopg.connect(ts_db.app_url) as conn:
        for statement in (
            "UPDATE api_usage_rollup_state SET rolled_up_until = now()",
            "DELETE FROM api_usage_rollup_dirty",
            "DELETE FROM api_usage_hourly",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                run_as(conn, tenant, statement)


async def test_retention_removes_rolled_up_hours_with_the_raw_rows_they_came_from(
    ts_db: Database,
) -> None:
    tenant = fresh_tenant(ts_db, "T")
    old = datetime.now(UTC) - timedelta(days=45)
    async with app_factory(ts_db) as factory:
        ctx = {"user_id": tenant.user_id, "workspace_id": tenant.workspace_id}
        async with unit_of_work(factory, **ctx) as s:
            await timeseries.ensure_partitions(s, "api_usage_logs", since=old)
        rows = random_rows(random.Random(5), tenant, 20)
        rows[0]["at"] = old
        await insert(factory, tenant, rows)
        await refresh(factory)
        kept_before = [r[0] for r in rollup_content(ts_db, tenant)]
        async with unit_of_work(factory) as s:
            await timeseries.apply_retention(s, "api_usage_logs", timedelta(days=30))
        window: dict[str, Any] = {
            "start": old - timedelta(days=1),
            "end": datetime.now(UTC) + H,
            "granularity": "day",
            "by": "model",
        }
        combined, raw, _ = await both_answers(factory, tenant, **window)
    kept_after = [r[0] for r in rollup_content(ts_db, tenant)]
    assert min(kept_before) < datetime.now(UTC) - timedelta(days=30), "control: an old hour"
    assert min(kept_after) > datetime.now(UTC) - timedelta(days=31)
    assert combined == raw


async def test_a_refresh_fixes_at_most_max_dirty_hours_and_answers_stay_exact(
    ts_db: Database,
) -> None:
    tenant = fresh_tenant(ts_db, "D")
    rng = random.Random(13)
    async with app_factory(ts_db) as factory:
        await insert(factory, tenant, random_rows(rng, tenant, 50))
        await refresh(factory)
        base = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
        late = random_rows(rng, tenant, 5)
        for i, row in enumerate(late):
            row["at"] = base + i * H + timedelta(minutes=1)
        await insert(factory, tenant, late)
        partial = await refresh_usage_rollup(factory, max_span=timedelta(days=400), max_dirty=2)
        window: dict[str, Any] = {
            "start": base - timedelta(days=1),
            "end": datetime.now(UTC) + H,
            "granularity": "hour",
            "by": "tool",
        }
        combined, raw, status = await both_answers(factory, tenant, **window)
        still_dirty = [h for h in status.dirty_hours if base <= h < base + 5 * H]
        assert combined == raw
        await refresh(factory)
        _, _, after = await both_answers(factory, tenant, **window)
    assert partial.dirty_hours == 2
    assert still_dirty == [base, base + H, base + 2 * H]  # newest first were fixed
    assert [h for h in after.dirty_hours if base <= h < base + 5 * H] == []
