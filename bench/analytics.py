"""Daily cost per workspace over N synthetic usage rows: plain table, time-series table, and
the platform's analytics path (hourly rollup + raw rows), in the same run.

Generates ``--rows`` synthetic ``api_usage_logs`` rows (default 10 million, spread over
``--days`` days and ``--workspaces`` workspaces, in time order) once into an unlogged staging
table, loads the same rows into the hypertable / partitioned table and into a plain table with
the same primary key and ``(workspace_id, created_at)`` index, builds the hourly rollup with
the platform's refresh function, and times the daily-cost-per-workspace query three ways:

- (a) the plain table, raw rows;
- (b) the hypertable / partitioned table, raw rows (``source="raw"`` of the repository);
- (c) the analytics repository's path: closed hours from ``api_usage_hourly``, the open hour
  and the partial edges from the raw rows (status lookup included in the time).

Every query runs with the repository's per-transaction ``work_mem``. Prints the median of
``--repeat`` runs for the last 7 days and the whole range, ratios against the plain table,
and checks that (b) and (c) return exactly the rows of (a).

    uv run python bench/analytics.py [--rows 1000000] [--path timescale|native] [--explain]

``--path timescale`` (the default where this runs as root) uses a PostgreSQL 17 + TimescaleDB
server from the cached Debian 13 root (``devinfra.debian_root``); ``--path native`` uses the
host's PostgreSQL with native range partitions.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from pyairtable_platform.core.analytics.repository import (
    ANALYTICS_WORK_MEM,
    RollupStatus,
    combined_usage_sql,
    plan_sources,
    usage_sql,
)
from pyairtable_platform.devinfra.debian_root import ChrootPostgres, ensure_debian_root
from pyairtable_platform.devinfra.local import Credentials, database_urls, free_port
from pyairtable_platform.devinfra.sql import bootstrap_database
from pyairtable_platform.devinfra.throwaway import throwaway_infra
from pyairtable_platform.migrations_runner import upgrade


@contextmanager
def server(path: str) -> Iterator[str]:
    """A migrated database; yields its superuser URL (RLS does not apply to it)."""
    if path == "native":
        with throwaway_infra("pap_bench") as infra:
            yield infra.superuser_url.rsplit("/", 1)[0] + "/pap_bench"
        return
    pg = ChrootPostgres(ensure_debian_root(), port=free_port(), name=f"bench-{os.getpid()}")
    # The same memory settings as deploy/postgres/postgresql.conf.
    pg.start(
        settings={
            "shared_buffers": "128MB",
            "work_mem": "8MB",
            "jit": "off",
            # Bulk-load friendly; the query timings do not depend on them.
            "max_wal_size": "4GB",
            "checkpoint_timeout": "30min",
        }
    )
    try:
        credentials = Credentials.generate()
        bootstrap_database(pg.superuser_url, credentials, "pap_bench")
        upgrade(database_urls(pg.port, credentials, "pap_bench")["owner"])
        yield pg.superuser_url.rsplit("/", 1)[0] + "/pap_bench"
    finally:
        pg.destroy()


def load(conn: psycopg.Connection[Any], rows: int, days: int, workspaces: int) -> None:
    """Stage the rows once, then load the time-series table and the plain table from it.

    Bulk-load order, as for any large import: secondary indexes of the time-series table are
    dropped first and rebuilt after, triggers and foreign-key checks are off for the load
    (``session_replication_role = replica``: the rows are valid by construction, and the
    rollup is built from scratch afterwards), and commits do not wait for the WAL flush.
    """
    conn.execute("SET synchronous_commit = off")
    conn.execute("SET maintenance_work_mem = '256MB'")
    user = uuid.uuid4()
    conn.execute(
        "INSERT INTO users (id, email, password_hash) VALUES (%s, 'bench@example.test', 'x')",
        (user,),
    )
    conn.execute(
        "INSERT INTO workspaces (name, slug, created_by)"
        " SELECT 'bench ' || i, 'bench-' || i, %s FROM generate_series(1, %s) i",
        (user, workspaces),
    )
    conn.execute(
        "SELECT ts_ensure_partitions('api_usage_logs', interval '1 day', now() - %s::interval)",
        (f"{days + 1} days",),
    )
    started = time.perf_counter()
    conn.execute(
        """
        CREATE UNLOGGED TABLE bench_stage AS
        SELECT gen_random_uuid() AS id,
               now() - %(span)s::interval + (i::float8 / %(rows)s) * %(span)s::interval
                   AS created_at,
               ws.ids[1 + (i %% %(nws)s)] AS workspace_id,
               %(user)s::uuid AS user_id,
               (ARRAY['gpt-4.1', 'gemini-2.5-pro', 'claude-4'])[1 + (i %% 3)] AS model,
               CASE WHEN i %% 4 = 0 THEN 'list_records' END AS tool_name,
               t.inp AS input_tokens, t.outp AS output_tokens, t.inp + t.outp AS total_tokens,
               round(((t.inp + t.outp) * 0.000002)::numeric, 6) AS cost_usd,
               (20 + random() * 2000)::int AS latency_ms,
               i %% 50 <> 0 AS success
        FROM generate_series(0, %(rows)s - 1) AS i,
             LATERAL (SELECT (100 + random() * 4000)::int AS inp,
                             (10 + random() * 800)::int AS outp) t,
             (SELECT array_agg(id ORDER BY id) AS ids FROM workspaces) ws
        """,
        {"span": f"{days} days", "nws": workspaces, "user": user, "rows": rows},
    )
    print(f"  staged {rows:,} rows: {time.perf_counter() - started:.1f} s")

    indexes = [
        (name, definition)
        for name, definition in conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i"
            " WHERE i.schemaname = 'public' AND i.tablename = 'api_usage_logs'"
            " AND i.indexname <> 'pk_api_usage_logs'"
        ).fetchall()
    ]
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    columns = (
        "id, created_at, workspace_id, user_id, model, tool_name, input_tokens,"
        " output_tokens, total_tokens, cost_usd, latency_ms, success"
    )
    started = time.perf_counter()
    conn.execute("SET session_replication_role = replica")
    conn.execute(f"INSERT INTO api_usage_logs ({columns}) SELECT {columns} FROM bench_stage")
    conn.execute("RESET session_replication_role")
    print(f"  time-series table: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    for _, definition in indexes:
        # A partitioned table's index definition reads "ON ONLY": that would build nothing.
        conn.execute(definition.replace(" ON ONLY ", " ON "))
    print(f"  its {len(indexes)} secondary indexes rebuilt: {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    conn.execute(
        "CREATE TABLE api_usage_plain (LIKE api_usage_logs INCLUDING DEFAULTS INCLUDING"
        " CONSTRAINTS)"
    )
    conn.execute(f"INSERT INTO api_usage_plain ({columns}) SELECT {columns} FROM bench_stage")
    conn.execute("ALTER TABLE api_usage_plain ADD PRIMARY KEY (id, created_at)")
    # The same secondary index the time-series table has for this query.
    conn.execute(
        "CREATE INDEX ix_api_usage_plain_workspace_id_created_at"
        " ON api_usage_plain (workspace_id, created_at DESC)"
    )
    # And the same planner statistics the platform gives its table (migration 0002), so the
    # baseline gets the HashAggregate too: the comparison is about storage and the rollup.
    conn.execute(
        "CREATE STATISTICS st_api_usage_plain_day (ndistinct) ON"
        " (date_bin(INTERVAL '1 days', created_at, TIMESTAMPTZ '2000-01-03 00:00:00+00')),"
        " workspace_id, user_id, model, tool_name FROM api_usage_plain"
    )
    conn.execute("DROP TABLE bench_stage")
    print(f"  plain table + its indexes: {time.perf_counter() - started:.1f} s")


def run_query(
    conn: psycopg.Connection[Any], variant: str, sql: str, start: datetime, end: datetime
) -> list[Any]:
    """One execution of a variant, including the rollup status lookup for the platform path."""
    if variant != "platform":
        return conn.execute(sql, {"start": start, "end": end}).fetchall()
    row = conn.execute(
        "SELECT rolled_up_until, dirty_hours FROM usage_rollup_status(%s, %s)", (start, end)
    ).fetchone()
    assert row is not None
    plan = plan_sources(start, end, RollupStatus(row[0], tuple(row[1] or ())))
    query = combined_usage_sql(
        plan, granularity="day", by="workspace", timescale=sql == "ts", tenant_filter=False
    )
    assert query is not None
    return conn.execute(to_psycopg(query[0]), query[1]).fetchall()


def time_query(
    conn: psycopg.Connection[Any],
    variant: str,
    sql: str,
    start: datetime,
    end: datetime,
    repeat: int,
) -> tuple[float, list[Any]]:
    rows = run_query(conn, variant, sql, start, end)  # warm-up
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        run_query(conn, variant, sql, start, end)
        samples.append(time.perf_counter() - began)
    return statistics.median(samples), rows


def to_psycopg(sql: str) -> str:
    """SQLAlchemy-style ``:name`` parameters to psycopg's ``%(name)s``."""
    return re.sub(r"(?<!:):([a-z][a-z0-9_]*)", r"%(\1)s", sql)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workspaces", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explain", action="store_true", help="print the plans too")
    parser.add_argument(
        "--path",
        choices=["timescale", "native"],
        default="timescale" if os.geteuid() == 0 else "native",
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    with server(args.path) as url, psycopg.connect(url, autocommit=True) as conn:
        timescale = args.path == "timescale"
        kind = "hypertable" if timescale else "partitioned"
        print(f"path: {args.path} ({conn.execute('SHOW server_version').fetchone()[0]})")  # type: ignore[index]
        print(f"loading {args.rows:,} rows over {args.days} days, {args.workspaces} workspaces")
        began = time.perf_counter()
        load(conn, args.rows, args.days, args.workspaces)
        conn.execute("VACUUM ANALYZE api_usage_logs")
        conn.execute("VACUUM ANALYZE api_usage_plain")
        print(f"load + vacuum analyze: {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        refreshed = conn.execute(
            "SELECT * FROM usage_rollup_refresh(interval '400 days')"
        ).fetchone()
        conn.execute("VACUUM ANALYZE api_usage_hourly")
        rollup_rows = conn.execute("SELECT count(*) FROM api_usage_hourly").fetchone()
        print(
            f"rollup built from scratch: {time.perf_counter() - began:.1f} s"
            f" ({refreshed[0]} hours, {rollup_rows[0]:,} rollup rows)"  # type: ignore[index]
        )
        conn.execute(f"SET work_mem = '{ANALYTICS_WORK_MEM}'")

        now = datetime.now(UTC)
        windows = {
            "last 7 days": (now - timedelta(days=7), now),
            f"all {args.days} days": (now - timedelta(days=args.days + 1), now),
        }
        variants = {
            "plain": to_psycopg(
                usage_sql(
                    granularity="day",
                    by="workspace",
                    timescale=False,
                    table="api_usage_plain",
                    tenant_filter=False,
                )
            ),
            kind: to_psycopg(
                usage_sql(
                    granularity="day", by="workspace", timescale=timescale, tenant_filter=False
                )
            ),
            "platform": "ts" if timescale else "native",
        }
        print(
            f"\nquery: daily cost per workspace, work_mem {ANALYTICS_WORK_MEM},"
            f" median of {args.repeat}"
        )
        print(
            f"  (a) plain table  (b) {kind}, raw rows  (c) platform: hourly rollup + raw open hour"
        )
        for label, (start, end) in windows.items():
            timings: dict[str, float] = {}
            reference: list[Any] | None = None
            for variant, sql in variants.items():
                seconds, rows = time_query(conn, variant, sql, start, end, args.repeat)
                timings[variant] = seconds
                if reference is None:
                    reference = rows
                assert rows == reference, f"{variant} must return exactly the plain table's rows"
                if args.explain and variant != "platform":
                    plan = conn.execute(
                        "EXPLAIN (ANALYZE, BUFFERS) " + sql, {"start": start, "end": end}
                    ).fetchall()
                    print("\n".join(f"    {line}" for (line,) in plan))
            plain = timings["plain"]
            print(
                f"  {label:>13}: (a) plain {plain * 1000:8.1f} ms"
                f" | (b) {kind} {timings[kind] * 1000:8.1f} ms ({plain / timings[kind]:5.2f}x)"
                f" | (c) platform {timings['platform'] * 1000:7.1f} ms"
                f" ({plain / timings['platform']:6.2f}x)"
                f"  [{len(reference or [])} groups, identical]"
            )


if __name__ == "__main__":
    main()
