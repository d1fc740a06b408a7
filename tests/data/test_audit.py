"""The audit trail: one row per INSERT/UPDATE/DELETE with actor, workspace and request id,
written by the trigger only; application_user can neither forge nor erase it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from pyairtable_platform.core.audit.repository import AuditRepository
from pyairtable_platform.core.audit.tasks import purge_audit_log
from pyairtable_platform.kit.db import create_engine, create_session_factory, unit_of_work
from tests.data.conftest import Database, Tenant, run_as, set_context


def _audit_rows(su: psycopg.Connection[Any], row_id: Any) -> list[tuple[Any, ...]]:
    return su.execute(
        "SELECT operation, actor_user_id, workspace_id, request_id, changed_fields,"
        " old_data, new_data, txid FROM audit_log WHERE row_id = %s ORDER BY created_at",
        (str(row_id),),
    ).fetchall()


def test_each_write_leaves_exactly_one_audit_row_with_actor_workspace_and_request(
    superuser: psycopg.Connection[Any],
    app_conn: psycopg.Connection[Any],
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, _ = tenants
    with app_conn.transaction():
        set_context(app_conn, a, request_id="req-insert")
        row = app_conn.execute(
            "INSERT INTO workflows (workspace_id, name, trigger_type)"
            " VALUES (%s, 'Nightly import', 'cron') RETURNING id",
            (a.workspace_id,),
        ).fetchone()
    assert row is not None
    workflow_id = row[0]
    with app_conn.transaction():
        set_context(app_conn, a, request_id="req-update")
        app_conn.execute("UPDATE workflows SET is_enabled = false WHERE id = %s", (workflow_id,))
    with app_conn.transaction():
        set_context(app_conn, a, request_id="req-delete")
        app_conn.execute("DELETE FROM workflows WHERE id = %s", (workflow_id,))

    rows = _audit_rows(superuser, workflow_id)
    assert [r[0] for r in rows] == ["INSERT", "UPDATE", "DELETE"]
    assert {r[1] for r in rows} == {a.user_id}
    assert {r[2] for r in rows} == {a.workspace_id}
    assert [r[3] for r in rows] == ["req-insert", "req-update", "req-delete"]
    insert, update, delete = rows
    assert insert[5] is None
    assert insert[6]["name"] == "Nightly import"
    assert "is_enabled" in update[4]
    assert "updated_at" in update[4]
    assert "name" not in update[4]
    assert update[5]["is_enabled"] is True
    assert update[6]["is_enabled"] is False
    assert delete[5]["name"] == "Nightly import"
    assert delete[6] is None
    assert len({r[7] for r in rows}) == 3, "each transaction has its own txid"


def test_a_statement_touching_two_rows_writes_two_audit_rows(
    superuser: psycopg.Connection[Any],
    app_conn: psycopg.Connection[Any],
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, _ = tenants
    tag = uuid.uuid4().hex
    with app_conn.transaction():
        set_context(app_conn, a)
        for _ in range(2):
            app_conn.execute(
                "INSERT INTO analytics_events (workspace_id, event_type) VALUES (%s, 'x')",
                (a.workspace_id,),
            )
            app_conn.execute(
                "INSERT INTO workflows (workspace_id, name, trigger_type)"
                " VALUES (%s, %s, 'manual')",
                (a.workspace_id, tag),
            )
        updated = app_conn.execute(
            "UPDATE workflows SET description = 'both' WHERE name = %s", (tag,)
        ).rowcount
    assert updated == 2
    count = superuser.execute(
        "SELECT count(*) FROM audit_log WHERE table_name = 'workflows' AND operation = 'UPDATE'"
        " AND new_data ->> 'name' = %s",
        (tag,),
    ).fetchone()
    assert count == (2,)


def test_secrets_and_hashes_never_reach_the_audit_rows(
    superuser: psycopg.Connection[Any],
    app_conn: psycopg.Connection[Any],
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, _ = tenants
    with app_conn.transaction():
        set_context(app_conn, a)
        row = app_conn.execute(
            "INSERT INTO api_keys (workspace_id, user_id, name, prefix, key_hash, scope)"
            " VALUES (%s, %s, 'ci', %s, 'very-secret-hash', 'write') RETURNING id",
            (a.workspace_id, a.user_id, uuid.uuid4().hex[:8]),
        ).fetchone()
    assert row is not None
    (audit,) = _audit_rows(superuser, row[0])
    assert audit[6]["name"] == "ci"
    assert "key_hash" not in audit[6]
    assert "very-secret-hash" not in str(audit[6])


def test_changes_to_users_are_audited_with_the_acting_user(
    superuser: psycopg.Connection[Any],
    app_conn: psycopg.Connection[Any],
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, _ = tenants
    with app_conn.transaction():
        set_context(app_conn, a, request_id="req-rename")
        app_conn.execute("UPDATE users SET full_name = 'Ada' WHERE id = %s", (a.user_id,))
    last = _audit_rows(superuser, a.user_id)[-1]
    assert last[0] == "UPDATE"
    assert last[1] == a.user_id
    assert last[3] == "req-rename"
    assert "password_hash" not in last[6]


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO audit_log (table_name, operation, txid) VALUES ('x', 'INSERT', 1)",
        "UPDATE audit_log SET table_name = 'forged'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
def test_application_user_cannot_write_audit_rows_directly(
    statement: str,
    app_conn: psycopg.Connection[Any],
    tenants: tuple[Tenant, Tenant],
) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        run_as(app_conn, tenants[0], statement)


def test_audit_rows_are_readable_only_in_their_workspace(
    app_conn: psycopg.Connection[Any], tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    with app_conn.transaction():
        set_context(app_conn, b)
        row = app_conn.execute(
            "SELECT count(*) FILTER (WHERE workspace_id = %s), count(*) FROM audit_log",
            (a.workspace_id,),
        ).fetchone()
    assert row is not None
    assert row[0] == 0


async def test_retention_deletes_only_audit_rows_older_than_the_period(
    superuser: psycopg.Connection[Any], native_db: Database, tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants
    old_id, recent_id = str(uuid.uuid4()), str(uuid.uuid4())
    for row_id, age in ((old_id, "8 years"), (recent_id, "6 years")):
        superuser.execute(
            "INSERT INTO audit_log (workspace_id, table_name, row_id, operation, txid, created_at)"
            " VALUES (%s, 'files', %s, 'DELETE', 1, now() - %s::interval)",
            (a.workspace_id, row_id, age),
        )
    engine = create_engine(native_db.app_url, pool_size=1)
    try:
        factory = create_session_factory(engine)
        removed = await purge_audit_log(factory, retention_days=2557)
        async with unit_of_work(factory, user_id=a.user_id, workspace_id=a.workspace_id) as s:
            trail = await AuditRepository(s).list_for_row("files", recent_id)
            gone = await AuditRepository(s).list_for_row("files", old_id)
            with pytest.raises(Exception, match="at least one day"):
                await AuditRepository(s).purge_older_than(timedelta(hours=1))
    finally:
        await engine.dispose()
    assert removed >= 1
    assert [e.operation for e in trail] == ["DELETE"]
    assert gone == []
