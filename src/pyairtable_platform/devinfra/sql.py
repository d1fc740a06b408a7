"""Privileged, idempotent database bootstrap: roles, database, extensions.

Runs as a superuser once per cluster (``make up``, the test setup, or an operator with
``pyairtable-platform db-bootstrap``). Everything after it — tables, policies, grants on
tables — belongs to the Alembic history and runs as the owner role.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from pyairtable_platform.devinfra.local import Credentials

# Extensions the schema uses when present. Those marked True need shared_preload_libraries.
EXTENSIONS: dict[str, bool] = {
    "pg_trgm": False,
    "btree_gin": False,
    "citext": False,
    "unaccent": False,
    "pg_stat_statements": True,
    "pgaudit": True,
    "timescaledb": True,
}

# The functions behind tsvector @@ tsquery and pg_trgm's %, <% and %> (see below).
LEAKPROOF_FUNCTIONS = (
    "ts_match_vq(tsvector, tsquery)",
    "similarity_op(text, text)",
    "word_similarity_op(text, text)",
    "word_similarity_commutator_op(text, text)",
)


def _ensure_role(cur: psycopg.Cursor[object], name: str, password: str, attrs: str) -> None:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
    verb = "ALTER" if cur.fetchone() else "CREATE"
    cur.execute(
        sql.SQL("{} ROLE {} WITH LOGIN {} PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(name), sql.SQL(attrs), sql.Literal(password)
        )
    )


def bootstrap_database(superuser_url: str, credentials: Credentials, database: str) -> list[str]:
    """Create roles, the database and the extensions; return the extensions installed."""
    with psycopg.connect(superuser_url, autocommit=True) as conn, conn.cursor() as cur:
        _ensure_role(cur, "pap_owner", credentials.owner_password, "NOSUPERUSER NOCREATEROLE")
        _ensure_role(
            cur,
            "application_user",
            credentials.app_password,
            "NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS",
        )
        _ensure_role(
            cur,
            "admin_user",
            credentials.admin_password,
            "NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS",
        )
        # The owner defines SECURITY DEFINER views over pg_stat_statements for admins.
        cur.execute("GRANT pg_read_all_stats TO pap_owner, admin_user")
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if not cur.fetchone():
            cur.execute(
                sql.SQL("CREATE DATABASE {} OWNER pap_owner").format(sql.Identifier(database))
            )
        cur.execute("SHOW shared_preload_libraries")
        row = cur.fetchone()
        preloaded = {p.strip() for p in str(row[0] if row else "").split(",") if p.strip()}

    db_url = superuser_url.rsplit("/", 1)[0] + f"/{database}"
    installed: list[str] = []
    with psycopg.connect(db_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM pg_available_extensions")
        available = {str(r[0]) for r in cur.fetchall()}
        for ext, needs_preload in EXTENSIONS.items():
            if ext not in available or (needs_preload and ext not in preloaded):
                continue
            cur.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))
            installed.append(ext)
        # Search runs under row-level security, where PostgreSQL uses an index only for
        # operators marked LEAKPROOF; the full-text and trigram match operators are not
        # (by default), which turns every search into a scan of the workspace's rows.
        # Why they are safe to mark: docs/decisions/0006-search-under-rls.md.
        for function in LEAKPROOF_FUNCTIONS:
            cur.execute("SELECT to_regprocedure(%s) IS NOT NULL", (function,))
            found = cur.fetchone()
            if found and found[0]:
                cur.execute(sql.SQL("ALTER FUNCTION {} LEAKPROOF").format(sql.SQL(function)))
        cur.execute("ALTER SCHEMA public OWNER TO pap_owner")
        cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        cur.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO application_user, admin_user").format(
                sql.Identifier(database)
            )
        )
        cur.execute("GRANT USAGE ON SCHEMA public TO application_user, admin_user")
    return installed
