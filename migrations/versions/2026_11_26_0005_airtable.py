"""Airtable access - the job queue schema, search vocabulary, the mirror scheduler lookup.

Revision ID: 0005_airtable
Revises: 0004_accounts
Create Date: 2026-11-26

- procrastinate's schema (tables ``procrastinate_*``, its functions and types), taken from the
  installed procrastinate package. Creating it here rather than at service start keeps DDL
  out of the services (they run as ``application_user``, which may not create tables) and
  puts the job queue under the same reviewed history as everything else. A procrastinate
  upgrade that changes its schema needs a new revision applying its migration scripts.
- ``airtable_search_words``: the distinct words of each workspace's mirrored records, with a
  trigram index. A typo is corrected against this small vocabulary first and the corrected
  words then run through the full-text index: trigram matching over whole record texts
  does not stay fast at a million records. Derived data: not audited.
- the GIN indexes of ``airtable_records.search_vector`` and ``primary_value`` (trigrams) no
  longer lead with ``workspace_id``: a GIN index intersects the posting lists of every
  column it is searched by, and ``workspace_id`` matches every row of a big workspace, so a
  rare word cost a scan of the workspace's whole list (measured: 240 ms at 200,000 records,
  bench/airtable.py search). The workspace predicate (and RLS) is checked on the few rows
  the vector finds. The same holds for the vocabulary's trigram index.
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
CREATE TABLE airtable_search_words (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    word text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_airtable_search_words_workspace_id_word UNIQUE (workspace_id, word)
);
CREATE INDEX ix_airtable_search_words_word_trgm
    ON airtable_search_words USING gin (word gin_trgm_ops);
ALTER TABLE airtable_search_words ENABLE ROW LEVEL SECURITY;
ALTER TABLE airtable_search_words FORCE ROW LEVEL SECURITY;
CREATE POLICY airtable_search_words_tenant_isolation ON airtable_search_words
    USING (workspace_id = app_current_workspace_id())
    WITH CHECK (workspace_id = app_current_workspace_id());

DROP TRIGGER IF EXISTS trg_airtable_records_audit ON airtable_records;

DROP INDEX ix_airtable_records_workspace_id_search_vector;
CREATE INDEX ix_airtable_records_search_vector ON airtable_records USING gin (search_vector);
DROP INDEX ix_airtable_records_workspace_id_primary_value_trgm;
CREATE INDEX ix_airtable_records_primary_value_trgm
    ON airtable_records USING gin (primary_value gin_trgm_ops);

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
    op.execute("DROP TABLE IF EXISTS airtable_search_words")
    op.execute("DROP INDEX IF EXISTS ix_airtable_records_search_vector")
    op.execute("DROP INDEX IF EXISTS ix_airtable_records_primary_value_trgm")
    op.execute(
        "CREATE INDEX ix_airtable_records_workspace_id_search_vector"
        " ON airtable_records USING gin (workspace_id, search_vector)"
    )
    op.execute(
        "CREATE INDEX ix_airtable_records_workspace_id_primary_value_trgm"
        " ON airtable_records USING gin (workspace_id, primary_value gin_trgm_ops)"
    )
    op.execute("DROP FUNCTION IF EXISTS mirror_bases_due(interval, interval, integer)")
    op.execute(
        "CREATE TRIGGER trg_airtable_records_audit AFTER INSERT OR UPDATE OR DELETE "
        "ON airtable_records FOR EACH ROW EXECUTE FUNCTION audit_row_change()"
    )
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
