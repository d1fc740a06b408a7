"""Cross-tenant matrix: every tenant table, as application_user, hides and protects workspace
A's rows from workspace B's context and from a connection without context.

Tables are discovered from the catalog (schemas public and sandbox, any table with a
``workspace_id`` column), so a table added later without a row factory here fails the suite.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from tests.data.conftest import Tenant, make_tenant, run_as, set_context

Factory = Callable[[psycopg.Connection[Any], Tenant], dict[str, Any]]


def _rand() -> str:
    return uuid.uuid4().hex[:12]


def _new_user(su: psycopg.Connection[Any]) -> uuid.UUID:
    user_id = uuid.uuid4()
    su.execute(
        "INSERT INTO users (id, email, password_hash) VALUES (%s, %s, 'x')",
        (user_id, f"u-{_rand()}@example.test"),
    )
    return user_id


def _new_session(su: psycopg.Connection[Any], t: Tenant) -> uuid.UUID:
    session_id = uuid.uuid4()
    su.execute(
        "INSERT INTO conversation_sessions (id, workspace_id, user_id) VALUES (%s, %s, %s)",
        (session_id, t.workspace_id, t.user_id),
    )
    return session_id


def _sandbox_base(su: psycopg.Connection[Any], t: Tenant) -> str:
    base_id = f"app{_rand()}"
    su.execute(
        "INSERT INTO sandbox.bases (id, workspace_id, name) VALUES (%s, %s, 'B')",
        (base_id, t.workspace_id),
    )
    return base_id


def _sandbox_table(su: psycopg.Connection[Any], t: Tenant) -> str:
    table_id = f"tbl{_rand()}"
    su.execute(
        "INSERT INTO sandbox.tables (id, workspace_id, base_id, name, primary_field_id, position)"
        " VALUES (%s, %s, %s, %s, 'fldName', 0)",
        (table_id, t.workspace_id, _sandbox_base(su, t), _rand()),
    )
    return table_id


def _sandbox_record(su: psycopg.Connection[Any], t: Tenant) -> str:
    record_id = f"rec{_rand()}"
    su.execute(
        "INSERT INTO sandbox.records (id, workspace_id, table_id, auto_number)"
        " VALUES (%s, %s, %s, 1)",
        (record_id, t.workspace_id, _sandbox_table(su, t)),
    )
    return record_id


LATER = datetime.now(UTC) + timedelta(days=1)

FACTORIES: dict[str, Factory] = {
    "public.workspace_members": lambda su, t: {
        "workspace_id": t.workspace_id,
        "user_id": _new_user(su),
        "role": "member",
    },
    "public.workspace_invitations": lambda su, t: {
        "workspace_id": t.workspace_id,
        "email": f"{_rand()}@example.test",
        "role": "member",
        "token_hash": _rand(),
        "expires_at": LATER,
    },
    "public.api_keys": lambda su, t: {
        "workspace_id": t.workspace_id,
        "user_id": t.user_id,
        "name": "k",
        "prefix": _rand(),
        "key_hash": _rand(),
        "scope": "read",
    },
    "public.refresh_tokens": lambda su, t: {
        "user_id": t.user_id,
        "workspace_id": t.workspace_id,
        "family_id": uuid.uuid4(),
        "token_hash": _rand(),
        "expires_at": LATER,
    },
    "public.audit_log": lambda su, t: {
        "workspace_id": t.workspace_id,
        "table_name": "files",
        "operation": "INSERT",
        "txid": 1,
    },
    "public.airtable_connections": lambda su, t: {"workspace_id": t.workspace_id, "name": _rand()},
    "public.airtable_bases": lambda su, t: {
        "workspace_id": t.workspace_id,
        "connection_id": t.connection_id,
        "base_id": f"app{_rand()}",
        "name": "Base",
    },
    "public.airtable_tables": lambda su, t: {
        "workspace_id": t.workspace_id,
        "base_id": t.base_id,
        "table_id": f"tbl{_rand()}",
        "name": "T",
    },
    "public.airtable_fields": lambda su, t: {
        "workspace_id": t.workspace_id,
        "base_id": t.base_id,
        "table_id": t.table_id,
        "field_id": f"fld{_rand()}",
        "name": "Name",
        "type": "singleLineText",
    },
    "public.airtable_records": lambda su, t: {
        "workspace_id": t.workspace_id,
        "base_id": t.base_id,
        "table_id": t.table_id,
        "record_id": f"rec{_rand()}",
        "fields": Jsonb({"Name": "Acme"}),
        "primary_value": "Acme",
    },
    "public.airtable_search_words": lambda su, t: {
        "workspace_id": t.workspace_id,
        "word": f"word{_rand()}",
    },
    "public.actions": lambda su, t: {
        "workspace_id": t.workspace_id,
        "user_id": t.user_id,
        "channel": "api",
        "base_id": t.base_id,
        "table_id": t.table_id,
        "operation": "update",
    },
    "public.files": lambda su, t: {
        "workspace_id": t.workspace_id,
        "filename": "a.txt",
        "original_filename": "a.txt",
        "mime_type": "text/plain",
        "size_bytes": 1,
        "sha256": _rand(),
        "storage_path": "/x",
    },
    "public.workflows": lambda su, t: {
        "workspace_id": t.workspace_id,
        "name": "wf",
        "trigger_type": "manual",
    },
    "public.workflow_runs": lambda su, t: {
        "workspace_id": t.workspace_id,
        "workflow_id": t.workflow_id,
        "trigger_type": "manual",
    },
    "public.workflow_step_logs": lambda su, t: {
        "workspace_id": t.workspace_id,
        "run_id": t.run_id,
        "step_index": 0,
        "step_type": "log",
    },
    "public.conversation_sessions": lambda su, t: {
        "workspace_id": t.workspace_id,
        "user_id": t.user_id,
        "title": "hello",
    },
    "public.conversation_messages": lambda su, t: {
        "workspace_id": t.workspace_id,
        "user_id": t.user_id,
        "session_id": t.session_id,
        "role": "user",
        "content": "hello",
    },
    "public.api_usage_logs": lambda su, t: {
        "workspace_id": t.workspace_id,
        "user_id": t.user_id,
        "model": "m",
        "cost_usd": 0.01,
    },
    "public.api_usage_hourly": lambda su, t: {
        "workspace_id": t.workspace_id,
        "bucket": datetime(2026, 1, 1, tzinfo=UTC),
        "model": _rand(),
        "requests": 1,
        "errors": 0,
        "input_tokens": 1,
        "output_tokens": 1,
        "total_tokens": 2,
        "cost_usd": 0.01,
        "latency_count": 0,
        "latency_sum_ms": 0,
    },
    "public.session_budgets": lambda su, t: {
        "workspace_id": t.workspace_id,
        "session_id": _new_session(su, t),
        "limit_usd": 1,
    },
    "public.user_budgets": lambda su, t: {
        "workspace_id": t.workspace_id,
        "user_id": t.user_id,
        "limit_usd": 1,
        "is_active": False,
    },
    "public.budget_alerts": lambda su, t: {
        "workspace_id": t.workspace_id,
        "budget_type": "user",
        "alert_type": "threshold_exceeded",
    },
    "public.analytics_events": lambda su, t: {
        "workspace_id": t.workspace_id,
        "event_type": "page_view",
    },
    "sandbox.tokens": lambda su, t: {
        "workspace_id": t.workspace_id,
        "airtable_user_id": "usrTest",
        "name": "t",
        "token_hash": _rand(),
    },
    "sandbox.bases": lambda su, t: {
        "id": f"app{_rand()}",
        "workspace_id": t.workspace_id,
        "name": "B",
    },
    "sandbox.tables": lambda su, t: {
        "id": f"tbl{_rand()}",
        "workspace_id": t.workspace_id,
        "base_id": _sandbox_base(su, t),
        "name": _rand(),
        "primary_field_id": "fldName",
        "position": 0,
    },
    "sandbox.fields": lambda su, t: {
        "id": f"fld{_rand()}",
        "workspace_id": t.workspace_id,
        "table_id": _sandbox_table(su, t),
        "name": _rand(),
        "type": "singleLineText",
        "position": 0,
    },
    "sandbox.views": lambda su, t: {
        "id": f"viw{_rand()}",
        "workspace_id": t.workspace_id,
        "table_id": _sandbox_table(su, t),
        "name": "Grid",
        "position": 0,
    },
    "sandbox.records": lambda su, t: {
        "id": f"rec{_rand()}",
        "workspace_id": t.workspace_id,
        "table_id": _sandbox_table(su, t),
        "auto_number": 1,
    },
    "sandbox.comments": lambda su, t: {
        "id": f"com{_rand()}",
        "workspace_id": t.workspace_id,
        "record_id": _sandbox_record(su, t),
        "author_id": "usrTest",
        "author_name": "Test",
        "author_email": "t@example.test",
        "text": "hi",
    },
    "public.ai_provider_settings": lambda su, t: {
        "workspace_id": t.workspace_id,
        "provider": "openai",
        "model": "gpt-test",
    },
    "public.workspace_budgets": lambda su, t: {
        "workspace_id": t.workspace_id,
        "limit_usd": 5,
        "reset_period": "total",
    },
    "public.chat_approvals": lambda su, t: {
        "workspace_id": t.workspace_id,
        "user_id": t.user_id,
        "session_id": _new_session(su, t),
        "turn_id": _rand(),
        "action_id": _rand(),
        "tool_call_id": _rand(),
        "tool_name": "update_records",
    },
    "public.analysis_reports": lambda su, t: {
        "workspace_id": t.workspace_id,
        "user_id": t.user_id,
        "base_id": f"app{_rand()}",
        "table_name": "Tasks",
    },
}

# Tables whose rows application_user may read but never write (rows come from triggers).
# The usage rollup is written only by the SECURITY DEFINER refresh function.
READ_ONLY = {"public.audit_log", "public.api_usage_hourly"}


def _discover(su: psycopg.Connection[Any]) -> dict[str, tuple[bool, bool]]:
    """schema.table -> (RLS enabled, RLS forced) for every table with a workspace_id column."""
    rows = su.execute(
        """
        SELECT n.nspname || '.' || c.relname, c.relrowsecurity, c.relforcerowsecurity
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'workspace_id'
                           AND NOT a.attisdropped
        WHERE n.nspname IN ('public', 'sandbox') AND c.relkind IN ('r', 'p')
          AND NOT c.relispartition
        """
    ).fetchall()
    return {name: (enabled, forced) for name, enabled, forced in rows}


def _split(name: str) -> sql.Composed:
    schema, table = name.split(".")
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def _insert_statement(table: str, values: dict[str, Any]) -> sql.Composed:
    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
        _split(table),
        sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(sql.Placeholder() * len(values)),
    )


def _insert(conn: psycopg.Connection[Any], table: str, values: dict[str, Any]) -> Any:
    row = conn.execute(_insert_statement(table, values), list(values.values())).fetchone()
    assert row is not None
    return row[0]


def _count(conn: psycopg.Connection[Any], table: str, row_id: Any) -> int:
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE id = %s").format(_split(table)), (row_id,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_every_tenant_table_has_forced_rls_and_a_row_factory(
    superuser: psycopg.Connection[Any],
) -> None:
    discovered = _discover(superuser)
    assert "public.api_usage_logs" in discovered
    missing = sorted(set(discovered) - set(FACTORIES))
    assert missing == [], f"tenant tables without a row factory in this test: {missing}"
    not_forced = sorted(name for name, flags in discovered.items() if flags != (True, True))
    assert not_forced == [], f"tenant tables without RLS enabled and forced: {not_forced}"
    assert set(FACTORIES) <= set(discovered), "a factory names a table that no longer exists"


def test_partitions_are_unreachable_for_application_user(
    superuser: psycopg.Connection[Any],
) -> None:
    partitions = superuser.execute(
        "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relispartition"
        " AND c.relnamespace = 'public'::regnamespace"
    ).fetchall()
    exposed = [
        name
        for (name,) in partitions
        if superuser.execute(
            "SELECT has_table_privilege('application_user', %s, 'SELECT')", (name,)
        ).fetchone()
        == (True,)
    ]
    assert exposed == [], f"partitions readable around the parent's RLS: {exposed}"


@pytest.mark.parametrize("table", sorted(FACTORIES))
def test_rows_of_workspace_a_are_invisible_and_unchangeable_from_workspace_b(
    table: str,
    superuser: psycopg.Connection[Any],
    app_conn: psycopg.Connection[Any],
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, b = tenants
    row_id = _insert(superuser, table, FACTORIES[table](superuser, a))

    with app_conn.transaction():
        set_context(app_conn, a)
        assert _count(app_conn, table, row_id) == 1, "control: the owner workspace sees it"

    with app_conn.transaction():
        set_context(app_conn, b)
        assert _count(app_conn, table, row_id) == 0

    touch = sql.SQL("UPDATE {} SET workspace_id = workspace_id WHERE id = %s").format(_split(table))
    delete = sql.SQL("DELETE FROM {} WHERE id = %s").format(_split(table))
    for statement in (touch, delete):
        if table in READ_ONLY:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                run_as(app_conn, b, statement, (row_id,))
        else:
            with app_conn.transaction():
                set_context(app_conn, b)
                assert app_conn.execute(statement, (row_id,)).rowcount == 0

    values = FACTORIES[table](superuser, a)
    expected = "permission denied" if table in READ_ONLY else "row-level security"
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=expected):
        run_as(app_conn, b, _insert_statement(table, values), list(values.values()))

    with app_conn.transaction():
        set_context(app_conn, None)
        assert _count(app_conn, table, row_id) == 0
    # Untouched: nothing B did reached the row.
    assert _count(superuser, table, row_id) == 1


def test_workspace_rows_are_visible_to_members_only(
    superuser: psycopg.Connection[Any],
    app_conn: psycopg.Connection[Any],
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, b = tenants
    with app_conn.transaction():
        set_context(app_conn, b)
        assert _count(app_conn, "public.workspaces", a.workspace_id) == 0
        assert _count(app_conn, "public.workspaces", b.workspace_id) == 1
        updated = app_conn.execute(
            "UPDATE workspaces SET name = 'taken' WHERE id = %s", (a.workspace_id,)
        )
        assert updated.rowcount == 0
        assert (
            app_conn.execute("DELETE FROM workspaces WHERE id = %s", (a.workspace_id,)).rowcount
            == 0
        )
    # A member of A with no active workspace still lists A (membership), but not B.
    with app_conn.transaction():
        app_conn.execute("SELECT set_config('app.current_user_id', %s, true)", (str(a.user_id),))
        assert _count(app_conn, "public.workspaces", a.workspace_id) == 1
        assert _count(app_conn, "public.workspaces", b.workspace_id) == 0
    with app_conn.transaction():
        set_context(app_conn, None)
        assert app_conn.execute("SELECT count(*) FROM workspaces").fetchone() == (0,)


def test_creating_a_workspace_for_someone_else_is_refused(
    superuser: psycopg.Connection[Any],
    app_conn: psycopg.Connection[Any],
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, b = tenants
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        run_as(
            app_conn,
            b,
            "INSERT INTO workspaces (name, slug, created_by) VALUES ('x', %s, %s)",
            (f"x-{_rand()}", a.user_id),
        )


def test_a_fresh_tenant_sees_nothing_of_the_others(
    superuser: psycopg.Connection[Any], app_conn: psycopg.Connection[Any]
) -> None:
    fresh = make_tenant(superuser, "C")
    with app_conn.transaction():
        set_context(app_conn, fresh)
        others = app_conn.execute(
            "SELECT count(*) FROM airtable_bases WHERE workspace_id <> %s", (fresh.workspace_id,)
        ).fetchone()
    assert others == (0,)
