"""Daily cost per workspace over N synthetic usage rows: time-series table vs plain table.

Loads ``--rows`` synthetic ``api_usage_logs`` rows (default 10 million, spread over
``--days`` days and ``--workspaces`` workspaces) with ``generate_series``, copies the same rows
into a plain table with the same indexes, and times the analytics repository's
daily-cost-per-workspace query on both, in the same run and on the same server. Prints the
median of ``--repeat`` runs for a recent window (last 7 days) and the whole range, and ratios.

    uv run python bench/analytics.py [--rows 1000000] [--path timescale|native]

``--path timescale`` (the default where this runs as root) uses a PostgreSQL 17 + TimescaleDB
server from the cached Debian 13 root (``devinfra.debian_root``); ``--path native`` uses the
host's PostgreSQL with native range partitions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg

from pyairtable_platform.core.analytics.repository import usage_sql
from pyairtable_platform.devinfra.debian_root import ChrootPostgres, ensure_debian_root
from pyairtable_platform.devinfra.local import Credentials, database_urls, free_port
from pyairtable_platform.devinfra.sql import bootstrap_database
from pyairtable_platform.devinfra.throwaway import throwaway_infra
from pyairtable_platform.migrations_runner import upgrade

BATCH = 1_000_000


@contextmanager
def server(path: str) -> Iterator[str]:
    """A migrated database; yields its superuser URL (RLS does not apply to it)."""
    if path == "native":
        with throwaway_infra("pap_bench") as infra:
            yield infra.superuser_url.rsplit("/", 1)[0] + "/pap_bench"
        return
    pg = ChrootPostgres(ensure_debian_root(), port=free_port(), name=f"bench-{os.getpid()}")
    # The same memory settings as deploy/postgres/postgresql.conf.
    pg.start(settings={"shared_buffers": "128MB", "work_mem": "8MB", "jit": "off"})
    try:
        credentials = Credentials.generate()
        bootstrap_database(pg.superuser_url, credentials, "pap_bench")
        upgrade(database_urls(pg.port, credentials, "pap_bench")["owner"])
        yield pg.superuser_url.rsplit("/", 1)[0] + "/pap_bench"
    finally:
        pg.destroy()


def load(conn: psycopg.Connection[object], rows: int, days: int, workspaces: int) -> None:
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
    # Rows arrive in time order, as usage logs do: each batch is the next slice of the range.
    done = 0
    while done < rows:
        n = min(BATCH, rows - done)
        started = time.perf_counter()
        conn.execute(
            """
            INSERT INTO api_usage_logs (created_at, workspace_id, user_id, model, tool_name,
                input_tokens, output_tokens, total_tokens, cost_usd, latency_ms, success)
            SELECT now() - %(span)s::interval
                   + ((%(done)s + i)::float8 / %(rows)s) * %(span)s::interval,
                   ws.ids[1 + (i %% %(nws)s)],
                   %(user)s,
                   (ARRAY['gpt-4.1', 'gemini-2.5-pro', 'claude-4'])[1 + (i %% 3)],
                   CASE WHEN i %% 4 = 0 THEN 'list_records' END,
                   t.inp, t.outp, t.inp + t.outp,
                   round(((t.inp + t.outp) * 0.000002)::numeric, 6),
                   (20 + random() * 2000)::int,
                   i %% 50 <> 0
            FROM generate_series(1, %(n)s) AS i,
                 LATERAL (SELECT (100 + random() * 4000)::int AS inp,
                                 (10 + random() * 800)::int AS outp) t,
                 (SELECT array_agg(id ORDER BY id) AS ids FROM workspaces) ws
            """,
            {
                "span": f"{days} days",
                "nws": workspaces,
                "user": user,
                "n": n,
                "done": done,
                "rows": rows,
            },
        )
        done += n
        print(f"  loaded {done:,} rows ({n / (time.perf_counter() - started):,.0f} rows/s)")


def make_plain(conn: psycopg.Connection[object]) -> None:
    conn.execute(
        "CREATE TABLE api_usage_plain (LIKE api_usage_logs INCLUDING DEFAULTS INCLUDING"
        " CONSTRAINTS)"
    )
    conn.execute("INSERT INTO api_usage_plain SELECT * FROM api_usage_logs")
    conn.execute("ALTER TABLE api_usage_plain ADD PRIMARY KEY (id, created_at)")
    # The same secondary index the time-series table has for this query.
    conn.execute(
        "CREATE INDEX ix_api_usage_plain_workspace_id_created_at"
        " ON api_usage_plain (workspace_id, created_at DESC)"
    )


def time_query(
    conn: psycopg.Connection[object], sql: str, start: datetime, end: datetime, repeat: int
) -> tuple[float, int]:
    params = {"start": start, "end": end}
    rows = conn.execute(sql, params).fetchall()  # warm-up
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        conn.execute(sql, params).fetchall()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples), len(rows)


def to_psycopg(sql: str) -> str:
    return sql.replace(":start", "%(start)s").replace(":end", "%(end)s")


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
        kind = "hypertable" if timescale else "partitioned table"
        short = "hypertable" if timescale else "partitioned"
        print(f"path: {args.path} ({conn.execute('SHOW server_version').fetchone()[0]})")  # type: ignore[index]
        print(f"loading {args.rows:,} rows over {args.days} days, {args.workspaces} workspaces")
        began = time.perf_counter()
        load(conn, args.rows, args.days, args.workspaces)
        print(f"load: {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        make_plain(conn)
        conn.execute("VACUUM ANALYZE api_usage_logs")
        conn.execute("VACUUM ANALYZE api_usage_plain")
        print(f"plain copy + vacuum analyze: {time.perf_counter() - began:.1f} s")

        now = datetime.now(UTC)
        windows = {
            "last 7 days": (now - timedelta(days=7), now),
            f"all {args.days} days": (now - timedelta(days=args.days + 1), now),
        }
        print("\nquery: daily cost per workspace (the analytics repository's usage query)")
        for label, (start, end) in windows.items():
            results = {}
            for table, ts in (("api_usage_logs", timescale), ("api_usage_plain", False)):
                sql = usage_sql(
                    granularity="day",
                    by="workspace",
                    timescale=ts,
                    table=table,
                    tenant_filter=False,
                )
                results[table] = time_query(conn, to_psycopg(sql), start, end, args.repeat)
                if args.explain:
                    plan = conn.execute(
                        "EXPLAIN (ANALYZE, BUFFERS) " + to_psycopg(sql),
                        {"start": start, "end": end},
                    ).fetchall()
                    print("\n".join(f"    {line}" for (line,) in plan))
            (ts_s, ts_rows), (plain_s, plain_rows) = (
                results["api_usage_logs"],
                results["api_usage_plain"],
            )
            assert ts_rows == plain_rows, "both tables must give the same groups"
            print(
                f"  {label:>13}: {kind} {ts_s * 1000:9.1f} ms | plain table "
                f"{plain_s * 1000:9.1f} ms | plain/{short} = {plain_s / ts_s:5.2f}x"
                f"  ({ts_rows} groups, median of {args.repeat})"
            )


if __name__ == "__main__":
    main()
