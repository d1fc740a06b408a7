"""End-to-end tests for the cached Debian root and the PostgreSQL 17 + TimescaleDB server in it.

The first run on a machine builds the root (a few minutes); later runs reuse the machine-wide
cache, so this is part of the normal suite rather than hidden behind a "slow" marker.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, LiteralString

import psycopg
import pytest

from pyairtable_platform.devinfra import debian_root
from pyairtable_platform.devinfra.debian_root import (
    ChrootPostgres,
    DebianRootError,
    ensure_debian_root,
    host_has_timescaledb,
)

# debootstrap and chroot cannot work without root; CI and dev machines run as root.
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chroot/debootstrap need root")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unique_name() -> str:
    return f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _mount_points() -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split()[4] for line in lines]


def _scalar(conn: psycopg.Connection[Any], sql: LiteralString) -> Any:
    row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture(scope="module")
def root() -> Path:
    return ensure_debian_root()


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[ChrootPostgres]:
    pg = ChrootPostgres(root, port=_free_port(), name=_unique_name())
    pg.start()
    try:
        yield pg
    finally:
        pg.destroy()


def test_host_has_timescaledb_is_false_for_a_missing_major() -> None:
    assert host_has_timescaledb(999) is False


def test_cache_dir_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAP_DEBIAN_ROOT_CACHE", str(tmp_path))
    assert debian_root._default_cache_dir() == tmp_path


def test_instance_names_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid instance name"):
        ChrootPostgres(tmp_path, port=5432, name="../escape")


@needs_root
def test_root_is_complete_cached_and_unmounted(root: Path) -> None:
    started = time.monotonic()
    assert ensure_debian_root() == root
    assert time.monotonic() - started < 2.0, "a built root must be reused, not rebuilt"
    assert (root / debian_root.MARKER_NAME).is_file()
    assert (root / "usr/lib/postgresql/17/bin/postgres").is_file()
    assert (root / "usr/share/postgresql/17/extension/timescaledb.control").is_file()
    assert (root / "usr/share/postgresql/17/extension/pgaudit.control").is_file()
    # postgresql-common must not have created (or left) a default cluster on port 5432.
    assert not (root / "etc/postgresql/17/main").exists()
    # No build may leave /proc, /sys or /dev mounted inside the cached root.
    root_str = str(root.resolve())
    assert [m for m in _mount_points() if m == root_str or m.startswith(root_str + "/")] == []
    assert list(root.parent.glob(f".{root.name}.build-*")) == []


@needs_root
def test_timescaledb_hypertable_roundtrip(server: ChrootPostgres) -> None:
    with psycopg.connect(server.superuser_url, autocommit=True) as conn:
        assert str(_scalar(conn, "SHOW server_version_num")).startswith("17")
        preload = _scalar(conn, "SHOW shared_preload_libraries")
        assert {"timescaledb", "pg_stat_statements", "pgaudit"} <= {
            lib.strip() for lib in preload.split(",")
        }

        conn.execute("CREATE EXTENSION timescaledb")
        conn.execute("CREATE EXTENSION pgaudit")
        conn.execute(
            "CREATE TABLE metrics ("
            " ts timestamptz NOT NULL, device int NOT NULL, value double precision NOT NULL)"
        )
        conn.execute("SELECT create_hypertable('metrics', by_range('ts', INTERVAL '1 day'))")
        interval = _scalar(
            conn,
            "SELECT time_interval FROM timescaledb_information.dimensions"
            " WHERE hypertable_name = 'metrics'",
        )
        assert interval == timedelta(days=1)

        # Hourly rows for 2024-01-01 .. 2024-01-05 (UTC); each row's value is its day of month.
        conn.execute(
            "INSERT INTO metrics (ts, device, value)"
            " SELECT ts, 1, extract(day FROM ts AT TIME ZONE 'UTC')"
            " FROM generate_series('2024-01-01 00:00+00'::timestamptz,"
            "                      '2024-01-05 23:00+00'::timestamptz, INTERVAL '1 hour') AS ts"
        )
        # 1-day chunks are aligned to UTC midnight, so five days of data make five chunks.
        assert _scalar(conn, "SELECT count(*) FROM show_chunks('metrics')") == 5

        buckets = conn.execute(
            "SELECT time_bucket('1 day', ts) AS day, count(*), avg(value)"
            " FROM metrics GROUP BY day ORDER BY day"
        ).fetchall()
        assert [(day.astimezone(UTC), n, avg) for day, n, avg in buckets] == [
            (datetime(2024, 1, d, tzinfo=UTC), 24, float(d)) for d in range(1, 6)
        ]

        dropped = _scalar(
            conn,
            "SELECT count(*) FROM drop_chunks('metrics',"
            " older_than => '2024-01-03 00:00+00'::timestamptz)",
        )
        assert dropped == 2
        remaining = conn.execute("SELECT count(*), min(ts) FROM metrics").fetchone()
        assert remaining == (72, datetime(2024, 1, 3, tzinfo=UTC))
        assert _scalar(conn, "SELECT count(*) FROM show_chunks('metrics')") == 3


@needs_root
def test_tcp_requires_the_password(server: ChrootPostgres) -> None:
    bad_url = f"postgresql://postgres:wrong@127.0.0.1:{server.port}/postgres"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(bad_url, connect_timeout=10).close()


@needs_root
def test_start_fails_loudly_when_the_port_is_taken(server: ChrootPostgres) -> None:
    # Readiness must be judged on this instance, not on whatever answers on the port.
    clash = ChrootPostgres(server.root, port=server.port, name=_unique_name())
    try:
        with pytest.raises(DebianRootError, match="exited during startup"):
            clash.start()
    finally:
        clash.destroy()
    assert server.is_running()


@needs_root
def test_destroy_leaves_no_process_and_no_data(root: Path) -> None:
    with ChrootPostgres(root, port=_free_port(), name=_unique_name()) as pg:
        pid = pg.pid
        assert pid is not None
        assert _pid_alive(pid)
        with psycopg.connect(pg.superuser_url, connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not _pid_alive(pid)
    assert not pg.instance_dir.exists()
    # stop() and destroy() are idempotent.
    pg.stop()
    pg.destroy()
