"""Sandbox Airtable - its own schema.

Revision ID: 0003_sandbox
Revises: 0002_data_platform
Create Date: 2026-11-26

Bases, tables, fields, views, records (cells JSONB keyed by field id), comments and the
sandbox's own personal access tokens, each with ``workspace_id`` under row-level security
(docs/decisions/0002). A sandbox request runs with the workspace of its token, found through
``sandbox.token_identity(hash)`` before any tenant context exists.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003_sandbox"
down_revision: str | None = "0002_data_platform"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("tokens", "bases", "tables", "fields", "views", "records", "comments")

UPGRADE = r"""
CREATE SCHEMA sandbox;
GRANT USAGE ON SCHEMA sandbox TO application_user, admin_user;
ALTER DEFAULT PRIVILEGES IN SCHEMA sandbox
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO application_user;
ALTER DEFAULT PRIVILEGES IN SCHEMA sandbox
    GRANT USAGE, SELECT ON SEQUENCES TO application_user;
ALTER DEFAULT PRIVILEGES IN SCHEMA sandbox GRANT SELECT ON TABLES TO admin_user;

CREATE TABLE sandbox.tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES public.workspaces (id) ON DELETE CASCADE,
    user_id uuid REFERENCES public.users (id) ON DELETE SET NULL,
    airtable_user_id text NOT NULL,
    name text NOT NULL,
    token_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    CONSTRAINT uq_tokens_token_hash UNIQUE (token_hash)
);
CREATE INDEX ix_tokens_workspace_id ON sandbox.tokens (workspace_id);

CREATE TABLE sandbox.bases (
    id text PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES public.workspaces (id) ON DELETE CASCADE,
    name text NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_bases_workspace_id_seq ON sandbox.bases (workspace_id, seq);

CREATE TABLE sandbox.tables (
    id text PRIMARY KEY,
    workspace_id uuid NOT NULL,
    base_id text NOT NULL REFERENCES sandbox.bases (id) ON DELETE CASCADE,
    name text NOT NULL,
    description text,
    primary_field_id text NOT NULL,
    position integer NOT NULL,
    next_auto_number bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX uq_tables_base_id_name ON sandbox.tables (base_id, lower(name));
CREATE INDEX ix_tables_workspace_id_base_id ON sandbox.tables (workspace_id, base_id);

CREATE TABLE sandbox.fields (
    id text PRIMARY KEY,
    workspace_id uuid NOT NULL,
    table_id text NOT NULL REFERENCES sandbox.tables (id) ON DELETE CASCADE,
    name text NOT NULL,
    type text NOT NULL,
    description text,
    options jsonb,
    position integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX uq_fields_table_id_name ON sandbox.fields (table_id, lower(name));
CREATE INDEX ix_fields_workspace_id_table_id ON sandbox.fields (workspace_id, table_id);

CREATE TABLE sandbox.views (
    id text PRIMARY KEY,
    workspace_id uuid NOT NULL,
    table_id text NOT NULL REFERENCES sandbox.tables (id) ON DELETE CASCADE,
    name text NOT NULL,
    type text NOT NULL DEFAULT 'grid',
    position integer NOT NULL,
    filter_formula text,
    sort jsonb,
    visible_field_ids jsonb
);
CREATE INDEX ix_views_workspace_id_table_id ON sandbox.views (workspace_id, table_id);

CREATE TABLE sandbox.records (
    id text PRIMARY KEY,
    workspace_id uuid NOT NULL,
    table_id text NOT NULL REFERENCES sandbox.tables (id) ON DELETE CASCADE,
    cells jsonb NOT NULL DEFAULT '{}'::jsonb,
    auto_number bigint NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_modified_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_records_workspace_id_table_id_seq ON sandbox.records (workspace_id, table_id, seq);

CREATE TABLE sandbox.comments (
    id text PRIMARY KEY,
    workspace_id uuid NOT NULL,
    record_id text NOT NULL REFERENCES sandbox.records (id) ON DELETE CASCADE,
    author_id text NOT NULL,
    author_name text NOT NULL,
    author_email text NOT NULL,
    text text NOT NULL,
    parent_comment_id text,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_updated_at timestamptz
);
CREATE INDEX ix_comments_workspace_id_record_id_seq
    ON sandbox.comments (workspace_id, record_id, seq);

-- The token check runs before any tenant context exists. The function runs as its owner,
-- which FORCE'd row-level security still binds, so the owner alone gets a read-only policy
-- on this one table; application_user still sees only its workspace's tokens.
CREATE POLICY tokens_definer_lookup ON sandbox.tokens FOR SELECT TO CURRENT_USER USING (true);

CREATE FUNCTION sandbox.token_identity(p_token_hash text)
RETURNS TABLE (token_id uuid, workspace_id uuid, airtable_user_id text, name text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT t.id, t.workspace_id, t.airtable_user_id, t.name
    FROM sandbox.tokens t
    WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL
$$;
REVOKE ALL ON FUNCTION sandbox.token_identity(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sandbox.token_identity(text) TO application_user;
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    for table in TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON sandbox.{table} TO application_user")
        op.execute(f"GRANT SELECT ON sandbox.{table} TO admin_user")
        op.execute(f"ALTER TABLE sandbox.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE sandbox.{table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON sandbox.{table} "
            "USING (workspace_id = app_current_workspace_id()) "
            "WITH CHECK (workspace_id = app_current_workspace_id())"
        )


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS sandbox CASCADE")
