"""Airtable access - the job queue schema, mirror search indexes, the mirror scheduler lookup.

Revision ID: 0005_airtable
Revises: 0004_accounts
Create Date: 2026-11-26

- procrastinate's schema (tables ``procrastinate_*``, its functions and types), taken from the
  installed procrastinate package. Creating it here rather than at service start keeps DDL
  out of the services (they run as ``application_user``, which may not create tables) and
  puts the job queue under the same reviewed history as everything else. A procrastinate
  upgrade that changes its schema needs a new revision applying its migration scripts.
- a trigram index on ``airtable_records.searchable_text``: the fuzzy fallback of search must
  find a typo in any field (lookups and linked values included), not only the primary one.
- the audit trigger is dropped from ``airtable_records``: the mirror is a copy of upstream
  data, refreshed by sync jobs (an initial sync of a large base would write one audit row per
  record); changes users make to Airtable are recorded in ``actions`` (issue 7).
- ``mirror_bases_due(interval, interval, integer)``: the periodic sync job runs without a tenant
  context, so it cannot read ``airtable_bases`` under RLS; this SECURITY DEFINER function
  returns only the (workspace, base) pairs due for a sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from alembic import op
from sqlalchemy import text

revision: str = "0005_airtable"
down_revision: str | None = "0004_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MIRROR = r"""
CREATE INDEX ix_airtable_records_workspace_id_searchable_text_trgm
    ON airtable_records USING gin (workspace_id, searchable_text gin_trgm_ops);
DROP TRIGGER IF EXISTS trg_airtable_records_audit ON airtable_records;

CREATE FUNCTION mirror_bases_due(p_stale interval, p_reconcile interval, p_limit integer)
RETURNS TABLE (workspace_id uuid, base_id text, full_due boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT b.workspace_id, b.base_id,
           (b.last_reconciled_at IS NULL OR b.last_reconciled_at < now() - p_reconcile)
    FROM airtable_bases b
    JOIN airtable_connections c ON c.id = b.connection_id
    WHERE c.status = 'active'
      AND b.sync_status <> 'syncing'
      AND (b.last_synced_at IS NULL OR b.last_synced_at < now() - p_stale
           OR b.last_reconciled_at IS NULL OR b.last_reconciled_at < now() - p_reconcile)
    ORDER BY b.last_synced_at NULLS FIRST
    LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION mirror_bases_due(interval, interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mirror_bases_due(interval, interval, integer) TO application_user;
"""

PROCRASTINATE_TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)


def _procrastinate_schema() -> str:
    return (resources.files("procrastinate") / "sql" / "schema.sql").read_text()


def upgrade() -> None:
    bind = op.get_bind()
    exists = bind.execute(text("SELECT to_regclass('public.procrastinate_jobs') IS NOT NULL"))
    if not exists.scalar():
        # Straight to the driver without parameters: the schema is plain SQL whose ':' and
        # '%' SQLAlchemy and psycopg would otherwise read as placeholders.
        dbapi = bind.connection.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        try:
            cursor.execute(_procrastinate_schema())
        finally:
            cursor.close()
    # The default privileges of migration 0001 cover the tables; the sequences too, but
    # grant explicitly so a schema created before those defaults still works.
    for table in PROCRASTINATE_TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO application_user")
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO application_user")
    op.execute(MIRROR)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS mirror_bases_due(interval, interval, integer)")
    op.execute(
        "CREATE TRIGGER trg_airtable_records_audit AFTER INSERT OR UPDATE OR DELETE "
        "ON airtable_records FOR EACH ROW EXECUTE FUNCTION audit_row_change()"
    )
    op.execute("DROP INDEX IF EXISTS ix_airtable_records_workspace_id_searchable_text_trgm")
    for table in PROCRASTINATE_TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute(
        """
        DO $$
        DECLARE r record;
        BEGIN
            FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                     JOIN pg_namespace n ON n.oid = p.pronamespace
                     WHERE n.nspname = 'public' AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE 'DROP FUNCTION IF EXISTS ' || r.sig || ' CASCADE';
            END LOOP;
            FOR r IN SELECT t.typname FROM pg_type t
                     JOIN pg_namespace n ON n.oid = t.typnamespace
                     WHERE n.nspname = 'public' AND t.typname LIKE 'procrastinate\\_%'
                       AND t.typtype IN ('e', 'c')
            LOOP
                EXECUTE 'DROP TYPE IF EXISTS ' || quote_ident(r.typname) || ' CASCADE';
            END LOOP;
        END $$;
        """
    )
