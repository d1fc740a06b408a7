"""The Alembic history runs from empty to head and back, and refuses a newer database."""

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from pyairtable_platform.migrations_runner import (
    MigrationError,
    current_revision,
    downgrade,
    upgrade,
)
from tests.conftest import Infra


@pytest.fixture
def empty_database(infra: Infra) -> Iterator[str]:
    name = f"mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(infra.superuser_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER pap_owner").format(sql.Identifier(name)))
    db_super = infra.superuser_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(db_super, autocommit=True) as conn:
        conn.execute("ALTER SCHEMA public OWNER TO pap_owner")
        for ext in ("pg_trgm", "btree_gin", "citext"):
            conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))
    yield infra.urls(name)["owner"]
    with psycopg.connect(infra.superuser_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_upgrade_from_empty_and_downgrade_to_base(empty_database: str) -> None:
    upgrade(empty_database)
    assert current_revision(empty_database) is not None
    assert {"users", "workspaces", "workspace_members", "api_keys"} <= _tables(empty_database)

    downgrade(empty_database, "base")
    assert current_revision(empty_database) is None
    assert _tables(empty_database) <= {"alembic_version"}

    # And up again: downgrades leave nothing behind that blocks a new upgrade.
    upgrade(empty_database)
    assert "users" in _tables(empty_database)


def test_migration_refuses_a_database_newer_than_the_code(empty_database: str) -> None:
    upgrade(empty_database)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    with pytest.raises(MigrationError, match="migrated by a newer version"):
        upgrade(empty_database)
