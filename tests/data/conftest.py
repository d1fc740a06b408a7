"""Fixtures of the data-platform tests: tenants seeded as superuser, connections as
``application_user`` with an RLS context, and a TimescaleDB server from the Debian root."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from pyairtable_platform.devinfra.debian_root import ChrootPostgres, ensure_debian_root
from pyairtable_platform.devinfra.local import Credentials, database_urls, free_port
from pyairtable_platform.devinfra.sql import bootstrap_database
from pyairtable_platform.migrations_runner import upgrade


@dataclass(frozen=True)
class Database:
    """One migrated database: its superuser URL and the platform roles' URLs."""

    kind: str  # "native" or "timescale"
    superuser_url: str
    app_url: str
    owner_url: str


@dataclass(frozen=True)
class Tenant:
    label: str
    user_id: uuid.UUID
    workspace_id: uuid.UUID
    connection_id: uuid.UUID
    api_key_id: uuid.UUID
    session_id: uuid.UUID
    workflow_id: uuid.UUID
    run_id: uuid.UUID
    base_id: str
    table_id: str


def db_superuser_url(superuser_url: str, database: str) -> str:
    return superuser_url.rsplit("/", 1)[0] + f"/{database}"


def make_tenant(superuser: psycopg.Connection[Any], label: str) -> Tenant:
    """A user, their workspace and the parent rows other tables point to (RLS bypassed)."""
    suffix = uuid.uuid4().hex[:8]
    ids = {name: uuid.uuid4() for name in ("user", "ws", "conn", "key", "sess", "wf", "run")}
    base_id, table_id = f"app{label}{suffix}", f"tbl{label}{suffix}"
    with superuser.transaction():
        superuser.execute(
            "INSERT INTO users (id, email, password_hash) VALUES (%s, %s, 'x')",
            (ids["user"], f"{label}-{suffix}@example.test"),
        )
        superuser.execute(
            "INSERT INTO workspaces (id, name, slug, created_by) VALUES (%s, %s, %s, %s)",
            (ids["ws"], f"Workspace {label}", f"ws-{label.lower()}-{suffix}", ids["user"]),
        )
        superuser.execute(
            "INSERT INTO workspace_members (workspace_id, user_id, role) VALUES (%s, %s, 'owner')",
            (ids["ws"], ids["user"]),
        )
        superuser.execute(
            "INSERT INTO airtable_connections (id, workspace_id, name) VALUES (%s, %s, 'main')",
            (ids["conn"], ids["ws"]),
        )
        superuser.execute(
            "INSERT INTO airtable_bases (workspace_id, connection_id, base_id, name)"
            " VALUES (%s, %s, %s, 'CRM')",
            (ids["ws"], ids["conn"], base_id),
        )
        superuser.execute(
            "INSERT INTO airtable_tables (workspace_id, base_id, table_id, name)"
            " VALUES (%s, %s, %s, 'Companies')",
            (ids["ws"], base_id, table_id),
        )
        superuser.execute(
            "INSERT INTO api_keys (id, workspace_id, user_id, name, prefix, key_hash, scope)"
            " VALUES (%s, %s, %s, 'k', %s, 'h', 'read')",
            (ids["key"], ids["ws"], ids["user"], suffix),
        )
        superuser.execute(
            "INSERT INTO conversation_sessions (id, workspace_id, user_id, title)"
            " VALUES (%s, %s, %s, 'Quarterly planning')",
            (ids["sess"], ids["ws"], ids["user"]),
        )
        superuser.execute(
            "INSERT INTO workflows (id, workspace_id, name, trigger_type)"
            " VALUES (%s, %s, 'wf', 'manual')",
            (ids["wf"], ids["ws"]),
        )
        superuser.execute(
            "INSERT INTO workflow_runs (id, workspace_id, workflow_id, trigger_type)"
            " VALUES (%s, %s, %s, 'manual')",
            (ids["run"], ids["ws"], ids["wf"]),
        )
    return Tenant(
        label,
        ids["user"],
        ids["ws"],
        ids["conn"],
        ids["key"],
        ids["sess"],
        ids["wf"],
        ids["run"],
        base_id,
        table_id,
    )


def set_context(
    conn: psycopg.Connection[Any],
    tenant: Tenant | None,
    *,
    request_id: str = "",
) -> None:
    """The RLS context of the current transaction, as kit.db.set_tenant_context sets it."""
    conn.execute(
        "SELECT set_config('app.current_user_id', %s, true),"
        " set_config('app.current_workspace_id', %s, true),"
        " set_config('app.request_id', %s, true)",
        (
            str(tenant.user_id) if tenant else "",
            str(tenant.workspace_id) if tenant else "",
            request_id,
        ),
    )


def run_as(
    conn: psycopg.Connection[Any],
    tenant: Tenant | None,
    statement: Any,
    params: Any = None,
) -> psycopg.Cursor[Any]:
    """One statement in its own transaction under ``tenant``'s RLS context."""
    with conn.transaction():
        set_context(conn, tenant)
        return conn.execute(statement, params)


@pytest.fixture(scope="session")
def native_db(infra: Any) -> Database:
    return Database(
        "native",
        db_superuser_url(infra.superuser_url, infra.database),
        infra.app_url,
        infra.owner_url,
    )


@pytest.fixture(scope="session")
def timescale_db() -> Iterator[Database]:
    """PostgreSQL 17 + TimescaleDB from the cached Debian 13 root, bootstrapped and migrated."""
    if os.geteuid() != 0:
        pytest.skip("the TimescaleDB server runs from a chroot, which needs root")
    root = ensure_debian_root()
    server = ChrootPostgres(root, port=free_port(), name=f"data-{uuid.uuid4().hex[:8]}")
    server.start()
    try:
        credentials = Credentials.generate()
        installed = bootstrap_database(server.superuser_url, credentials, "pap_ts")
        assert "timescaledb" in installed
        urls = database_urls(server.port, credentials, "pap_ts")
        upgrade(urls["owner"])
        yield Database(
            "timescale",
            db_superuser_url(server.superuser_url, "pap_ts"),
            urls["app"],
            urls["owner"],
        )
    finally:
        server.destroy()


@pytest.fixture(scope="session", params=["native", "timescale"])
def ts_db(request: pytest.FixtureRequest) -> Database:
    """Each time-series test runs on both paths."""
    name = "native_db" if request.param == "native" else "timescale_db"
    db: Database = request.getfixturevalue(name)
    return db


@pytest.fixture(scope="session")
def superuser(native_db: Database) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(native_db.superuser_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def tenants(superuser: psycopg.Connection[Any]) -> tuple[Tenant, Tenant]:
    return make_tenant(superuser, "A"), make_tenant(superuser, "B")


@pytest.fixture
def app_conn(native_db: Database) -> Iterator[psycopg.Connection[Any]]:
    """A connection as application_user (transactions are explicit in the tests)."""
    with psycopg.connect(native_db.app_url) as conn:
        yield conn
