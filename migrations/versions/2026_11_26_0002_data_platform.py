"""Data platform - tenant tables, RLS policies, audit triggers, time series, search.

Revision ID: 0002_data_platform
Revises: 0001_foundation
Create Date: 2026-11-26

Every rule here follows docs/decisions/0002-row-level-security.md and docs/data.md:
RLS enabled and forced on every tenant table, one generic audit trigger, time-series tables
as TimescaleDB hypertables when the extension is installed in the database and native RANGE
partitions otherwise (docs/decisions/0003-time-series.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0002_data_platform"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Trusted extensions: the database owner may create them without a superuser. The untrusted
# ones (pg_stat_statements, pgaudit, timescaledb) come from the privileged bootstrap.
EXTENSIONS = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;
"""

FUNCTIONS = r"""
-- Keys never copied into audit rows: secrets and their hashes, and derived search vectors.
CREATE FUNCTION audit_redact(data jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT coalesce(jsonb_object_agg(key, value), '{}'::jsonb)
    FROM jsonb_each(data)
    WHERE key NOT LIKE '%hash' AND key NOT LIKE '%encrypted%' AND key NOT LIKE '%secret%'
      AND key NOT LIKE '%password%' AND key <> 'search_vector'
$$;

-- One generic row trigger for every audited table. SECURITY DEFINER (owned by the migration
-- role) because application_user has no INSERT privilege on audit_log at all.
CREATE FUNCTION audit_row_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    old_row jsonb;
    new_row jsonb;
    changed text[];
    row_workspace uuid;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        old_row := to_jsonb(OLD);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        new_row := to_jsonb(NEW);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(n.key ORDER BY n.key) INTO changed
        FROM jsonb_each(new_row) AS n
        WHERE n.value IS DISTINCT FROM old_row -> n.key;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(k ORDER BY k) INTO changed FROM jsonb_object_keys(new_row) AS k;
    END IF;
    IF TG_TABLE_NAME = 'workspaces' AND TG_TABLE_SCHEMA = 'public' THEN
        row_workspace := (coalesce(new_row, old_row) ->> 'id')::uuid;
    ELSE
        row_workspace := coalesce(
            (coalesce(new_row, old_row) ->> 'workspace_id')::uuid, app_current_workspace_id()
        );
    END IF;
    INSERT INTO audit_log (
        workspace_id, schema_name, table_name, row_id, operation, old_data, new_data,
        changed_fields, actor_user_id, request_id, txid
    ) VALUES (
        row_workspace, TG_TABLE_SCHEMA, TG_TABLE_NAME, coalesce(new_row, old_row) ->> 'id',
        TG_OP, audit_redact(old_row), audit_redact(new_row), changed,
        app_current_user_id(), NULLIF(current_setting('app.request_id', true), ''),
        txid_current()
    );
    RETURN NULL;
END;
$$;

-- Deletes audit rows older than the retention period (application_user cannot DELETE them).
CREATE FUNCTION audit_purge(p_older_than interval) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    removed bigint;
BEGIN
    IF p_older_than < interval '1 day' THEN
        RAISE EXCEPTION 'audit retention must be at least one day, got %', p_older_than
            USING ERRCODE = '22023';
    END IF;
    DELETE FROM audit_log WHERE created_at < now() - p_older_than;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END;
$$;

-- Chunk / partition width of each time-series table.
CREATE FUNCTION ts_chunk_interval(p_table text) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_table
        WHEN 'api_usage_logs' THEN interval '1 day'
        WHEN 'conversation_messages' THEN interval '7 days'
    END
$$;

CREATE FUNCTION ts_is_partitioned(p_table text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_partitioned_table pt
        JOIN pg_class c ON c.oid = pt.partrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relname = p_table
    )
$$;

-- TimescaleDB copies the hypertable's grants to each new chunk, and chunks carry no RLS: a
-- role naming a chunk directly would read around the policies. The Apache edition cannot
-- create chunks ahead (create_chunk is licence-gated), so the maintenance job takes every
-- chunk's privileges back after the fact; access through the hypertable does not need them.
CREATE FUNCTION ts_lock_chunks(p_table text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    chunk regclass;
    locked integer := 0;
BEGIN
    FOR chunk IN EXECUTE 'SELECT show_chunks($1)' USING format('public.%I', p_table)::regclass
    LOOP
        IF has_table_privilege('application_user', chunk, 'SELECT')
           OR has_table_privilege('admin_user', chunk, 'SELECT') THEN
            EXECUTE format('REVOKE ALL ON %s FROM application_user, admin_user', chunk);
            locked := locked + 1;
        END IF;
    END LOOP;
    RETURN locked;
END;
$$;

-- Creates the missing partitions from p_since (default: now) up to now() + p_ahead. Owned by
-- the table owner so that the scheduled job, running as application_user, can call it.
CREATE FUNCTION ts_ensure_partitions(
    p_table text, p_ahead interval DEFAULT interval '30 days', p_since timestamptz DEFAULT NULL
) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    step interval := ts_chunk_interval(p_table);
    -- A Monday at midnight UTC: the origin TimescaleDB's time_bucket uses, so partitions,
    -- chunks and buckets line up on both paths.
    origin constant timestamptz := '2000-01-03 00:00:00+00';
    lower_bound timestamptz;
    until timestamptz;
    part text;
    created integer := 0;
BEGIN
    IF step IS NULL THEN
        RAISE EXCEPTION 'not a time-series table: %', p_table USING ERRCODE = '22023';
    END IF;
    IF p_ahead < interval '0' OR p_ahead > interval '400 days' THEN
        RAISE EXCEPTION 'ahead must be between 0 and 400 days, got %', p_ahead
            USING ERRCODE = '22023';
    END IF;
    IF NOT ts_is_partitioned(p_table) THEN
        -- A hypertable: TimescaleDB creates chunks on insert; lock the new ones.
        PERFORM ts_lock_chunks(p_table);
        RETURN 0;
    END IF;
    -- Concurrent runs (two workers) must not race on CREATE TABLE.
    PERFORM pg_advisory_xact_lock(hashtext('ts_ensure_partitions:' || p_table));
    lower_bound := date_bin(step, coalesce(least(p_since, now()), now()), origin);
    until := now() + p_ahead;
    WHILE lower_bound <= until LOOP
        part := format('%s_p%s', p_table, to_char(lower_bound AT TIME ZONE 'UTC', 'YYYYMMDD'));
        IF to_regclass(format('public.%I', part)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE public.%I PARTITION OF public.%I FOR VALUES FROM (%L) TO (%L)',
                part, p_table, lower_bound, lower_bound + step
            );
            -- Partitions carry no RLS of their own: only the parent is reachable by the
            -- services, so the default privileges given to new tables are taken back.
            EXECUTE format('REVOKE ALL ON public.%I FROM application_user, admin_user', part);
            created := created + 1;
        END IF;
        lower_bound := lower_bound + step;
    END LOOP;
    RETURN created;
END;
$$;

-- Drops whole chunks / partitions that end before now() - p_older_than.
CREATE FUNCTION ts_apply_retention(p_table text, p_older_than interval) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    cutoff timestamptz := now() - p_older_than;
    dropped integer := 0;
    part record;
    upper_bound timestamptz;
BEGIN
    IF ts_chunk_interval(p_table) IS NULL THEN
        RAISE EXCEPTION 'not a time-series table: %', p_table USING ERRCODE = '22023';
    END IF;
    IF p_older_than < interval '1 day' THEN
        RAISE EXCEPTION 'retention must be at least one day, got %', p_older_than
            USING ERRCODE = '22023';
    END IF;
    IF NOT ts_is_partitioned(p_table) THEN
        EXECUTE 'SELECT count(*) FROM drop_chunks($1::regclass, older_than => $2)'
            INTO dropped USING format('public.%I', p_table), cutoff;
    ELSE
        FOR part IN
            SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
            FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = format('public.%I', p_table)::regclass
        LOOP
            upper_bound := substring(part.bound FROM 'TO \(''([^'']+)''\)')::timestamptz;
            IF upper_bound IS NOT NULL AND upper_bound <= cutoff THEN
                EXECUTE format('DROP TABLE public.%I', part.relname);
                dropped := dropped + 1;
            END IF;
        END LOOP;
    END IF;
    IF p_table = 'api_usage_logs' THEN
        -- The rollup keeps exactly the hours the raw table still has: both forms drop whole
        -- days aligned on midnight UTC, so the oldest remaining raw row is in the day of the
        -- cutoff.
        DELETE FROM api_usage_hourly
        WHERE bucket < date_bin(interval '1 day', cutoff, timestamptz '2000-01-03 00:00:00+00');
    END IF;
    RETURN dropped;
END;
$$;

-- Top statements of this database from pg_stat_statements, for the admin endpoint. The owner
-- holds pg_read_all_stats (bootstrap), so callers see full query texts without superuser.
CREATE FUNCTION query_stats(p_order text, p_limit integer)
RETURNS TABLE (
    queryid bigint, query text, calls bigint, rows bigint,
    total_exec_ms double precision, mean_exec_ms double precision,
    min_exec_ms double precision, max_exec_ms double precision,
    stddev_exec_ms double precision, shared_blks_hit bigint, shared_blks_read bigint,
    role_name text
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    ext_schema text;
BEGIN
    IF p_order IS NULL OR p_order NOT IN ('total', 'mean') THEN
        RAISE EXCEPTION 'order must be total or mean' USING ERRCODE = '22023';
    END IF;
    SELECT n.nspname INTO ext_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_stat_statements';
    IF ext_schema IS NULL THEN
        RAISE EXCEPTION 'pg_stat_statements is not installed in this database'
            USING ERRCODE = '55000';
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT s.queryid, s.query, s.calls, s.rows, s.total_exec_time, s.mean_exec_time,'
        ' s.min_exec_time, s.max_exec_time, s.stddev_exec_time, s.shared_blks_hit,'
        ' s.shared_blks_read, r.rolname::text'
        ' FROM %I.pg_stat_statements s LEFT JOIN pg_roles r ON r.oid = s.userid'
        ' WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())'
        ' ORDER BY %s DESC NULLS LAST LIMIT $1',
        ext_schema,
        CASE p_order WHEN 'total' THEN 's.total_exec_time' ELSE 's.mean_exec_time' END
    ) USING least(greatest(coalesce(p_limit, 20), 1), 500);
END;
$$;

REVOKE EXECUTE ON FUNCTION audit_purge(interval) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ts_lock_chunks(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ts_ensure_partitions(text, interval, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ts_apply_retention(text, interval) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION query_stats(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_purge(interval) TO application_user, admin_user;
GRANT EXECUTE ON FUNCTION ts_ensure_partitions(text, interval, timestamptz)
    TO application_user, admin_user;
GRANT EXECUTE ON FUNCTION ts_apply_retention(text, interval) TO application_user, admin_user;
GRANT EXECUTE ON FUNCTION query_stats(text, integer) TO application_user, admin_user;
"""

TABLES = r"""
CREATE TABLE audit_log (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- No foreign key: the trail outlives the workspace it describes.
    workspace_id uuid,
    schema_name text NOT NULL DEFAULT 'public',
    table_name text NOT NULL,
    row_id text,
    operation text NOT NULL,
    old_data jsonb,
    new_data jsonb,
    changed_fields text[],
    actor_user_id uuid,
    request_id text,
    txid bigint NOT NULL,
    -- clock_timestamp, not now(): several changes in one transaction keep their order.
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT ck_audit_log_operation CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE'))
);
CREATE INDEX ix_audit_log_workspace_id_created_at ON audit_log (workspace_id, created_at DESC);
CREATE INDEX ix_audit_log_workspace_id_table_name_row_id
    ON audit_log (workspace_id, table_name, row_id);
CREATE INDEX ix_audit_log_created_at ON audit_log (created_at);

CREATE TABLE airtable_connections (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    name text NOT NULL,
    kind text NOT NULL DEFAULT 'airtable',
    auth_type text NOT NULL DEFAULT 'pat',
    token_encrypted text,
    token_hint text,
    scopes text[] NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'active',
    last_verified_at timestamptz,
    last_error text,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_airtable_connections_workspace_id_name UNIQUE (workspace_id, name),
    CONSTRAINT ck_airtable_connections_kind CHECK (kind IN ('airtable', 'sandbox')),
    CONSTRAINT ck_airtable_connections_auth_type CHECK (auth_type IN ('pat', 'oauth', 'none')),
    CONSTRAINT ck_airtable_connections_status CHECK (status IN ('active', 'invalid', 'revoked'))
);

CREATE TABLE airtable_bases (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    connection_id uuid NOT NULL REFERENCES airtable_connections (id) ON DELETE CASCADE,
    base_id text NOT NULL,
    name text NOT NULL,
    permission_level text,
    sync_status text NOT NULL DEFAULT 'pending',
    sync_error text,
    sync_cursor timestamptz,
    last_synced_at timestamptz,
    last_reconciled_at timestamptz,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_airtable_bases_workspace_id_base_id UNIQUE (workspace_id, base_id),
    CONSTRAINT ck_airtable_bases_sync_status
        CHECK (sync_status IN ('pending', 'syncing', 'ok', 'error'))
);
CREATE INDEX ix_airtable_bases_workspace_id_connection_id
    ON airtable_bases (workspace_id, connection_id);
CREATE INDEX ix_airtable_bases_workspace_id_name_trgm
    ON airtable_bases USING gin (workspace_id, name gin_trgm_ops);

CREATE TABLE airtable_tables (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL,
    base_id text NOT NULL,
    table_id text NOT NULL,
    name text NOT NULL,
    description text,
    primary_field_id text,
    position integer NOT NULL DEFAULT 0,
    last_synced_at timestamptz,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_airtable_tables_workspace_id_base_id_table_id
        UNIQUE (workspace_id, base_id, table_id),
    CONSTRAINT fk_airtable_tables_workspace_id_airtable_bases FOREIGN KEY (workspace_id, base_id)
        REFERENCES airtable_bases (workspace_id, base_id) ON DELETE CASCADE
);
CREATE INDEX ix_airtable_tables_workspace_id_name_trgm
    ON airtable_tables USING gin (workspace_id, name gin_trgm_ops);

CREATE TABLE airtable_fields (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL,
    base_id text NOT NULL,
    table_id text NOT NULL,
    field_id text NOT NULL,
    name text NOT NULL,
    type text NOT NULL,
    description text,
    options jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_primary boolean NOT NULL DEFAULT false,
    position integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_airtable_fields_workspace_id_base_id_table_id_field_id
        UNIQUE (workspace_id, base_id, table_id, field_id),
    CONSTRAINT fk_airtable_fields_workspace_id_airtable_tables
        FOREIGN KEY (workspace_id, base_id, table_id)
        REFERENCES airtable_tables (workspace_id, base_id, table_id) ON DELETE CASCADE
);

CREATE TABLE airtable_records (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL,
    base_id text NOT NULL,
    table_id text NOT NULL,
    record_id text NOT NULL,
    fields jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The primary field's value and all field values flattened to text by the mirror, so
    -- search needs no JSON walking at query time.
    primary_value text NOT NULL DEFAULT '',
    searchable_text text NOT NULL DEFAULT '',
    search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', primary_value), 'A')
        || setweight(to_tsvector('simple', searchable_text), 'B')
    ) STORED,
    airtable_created_time timestamptz,
    last_modified_time timestamptz,
    synced_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_airtable_records_workspace_id_base_id_table_id_record_id
        UNIQUE (workspace_id, base_id, table_id, record_id),
    CONSTRAINT fk_airtable_records_workspace_id_airtable_tables
        FOREIGN KEY (workspace_id, base_id, table_id)
        REFERENCES airtable_tables (workspace_id, base_id, table_id) ON DELETE CASCADE
);
CREATE INDEX ix_airtable_records_workspace_id_table_modified
    ON airtable_records (workspace_id, base_id, table_id, last_modified_time);
CREATE INDEX ix_airtable_records_fields ON airtable_records USING gin (fields jsonb_path_ops);
CREATE INDEX ix_airtable_records_workspace_id_search_vector
    ON airtable_records USING gin (workspace_id, search_vector);
CREATE INDEX ix_airtable_records_workspace_id_primary_value_trgm
    ON airtable_records USING gin (workspace_id, primary_value gin_trgm_ops);

CREATE TABLE actions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    channel text NOT NULL,
    api_key_id uuid REFERENCES api_keys (id) ON DELETE SET NULL,
    session_id uuid,
    workflow_run_id uuid,
    base_id text NOT NULL,
    table_id text NOT NULL,
    operation text NOT NULL,
    record_ids text[] NOT NULL DEFAULT '{}',
    request jsonb NOT NULL DEFAULT '{}'::jsonb,
    before jsonb,
    after jsonb,
    status text NOT NULL DEFAULT 'previewed',
    approval_token_hash text,
    expires_at timestamptz,
    approved_at timestamptz,
    approved_by uuid REFERENCES users (id) ON DELETE SET NULL,
    executed_at timestamptz,
    reverted_at timestamptz,
    reverted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    revert_of uuid REFERENCES actions (id) ON DELETE SET NULL,
    error text,
    request_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_actions_approval_token_hash UNIQUE (approval_token_hash),
    CONSTRAINT ck_actions_channel CHECK (channel IN ('chat', 'mcp', 'api', 'workflow', 'ui')),
    CONSTRAINT ck_actions_operation
        CHECK (operation IN ('create', 'update', 'delete', 'upsert', 'revert')),
    CONSTRAINT ck_actions_status CHECK (status IN (
        'previewed', 'approved', 'executing', 'executed', 'failed', 'rejected', 'expired',
        'reverted'
    ))
);
CREATE INDEX ix_actions_workspace_id_created_at ON actions (workspace_id, created_at DESC);
CREATE INDEX ix_actions_workspace_id_status_expires_at
    ON actions (workspace_id, status, expires_at);
CREATE INDEX ix_actions_workspace_id_base_id_table_id
    ON actions (workspace_id, base_id, table_id, created_at DESC);

CREATE TABLE files (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    uploaded_by uuid REFERENCES users (id) ON DELETE SET NULL,
    filename text NOT NULL,
    original_filename text NOT NULL,
    mime_type text NOT NULL,
    size_bytes bigint NOT NULL,
    sha256 text NOT NULL,
    storage_path text NOT NULL,
    status text NOT NULL DEFAULT 'uploaded',
    extracted_text text,
    page_count integer,
    error text,
    processed_at timestamptz,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(original_filename, '')), 'A')
        || setweight(to_tsvector('english', coalesce(extracted_text, '')), 'B')
        || setweight(to_tsvector('simple', coalesce(mime_type, '')), 'C')
    ) STORED,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_files_status CHECK (status IN ('uploaded', 'processing', 'processed', 'failed')),
    CONSTRAINT ck_files_size_bytes CHECK (size_bytes >= 0)
);
CREATE INDEX ix_files_workspace_id_created_at ON files (workspace_id, created_at DESC);
CREATE INDEX ix_files_workspace_id_sha256 ON files (workspace_id, sha256);
CREATE INDEX ix_files_workspace_id_search_vector ON files USING gin (workspace_id, search_vector);
CREATE INDEX ix_files_workspace_id_filename_trgm
    ON files USING gin (workspace_id, filename gin_trgm_ops);
CREATE INDEX ix_files_workspace_id_original_filename_trgm
    ON files USING gin (workspace_id, original_filename gin_trgm_ops);

CREATE TABLE workflows (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    trigger_type text NOT NULL,
    trigger_config jsonb NOT NULL DEFAULT '{}'::jsonb,
    steps jsonb NOT NULL DEFAULT '[]'::jsonb,
    is_enabled boolean NOT NULL DEFAULT true,
    webhook_token_hash text,
    next_run_at timestamptz,
    last_run_at timestamptz,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_workflows_webhook_token_hash UNIQUE (webhook_token_hash),
    CONSTRAINT ck_workflows_trigger_type CHECK (trigger_type IN (
        'manual', 'cron', 'interval', 'file_uploaded', 'file_processed', 'record_changed',
        'webhook'
    ))
);
CREATE INDEX ix_workflows_workspace_id_is_enabled_next_run_at
    ON workflows (workspace_id, is_enabled, next_run_at);

CREATE TABLE workflow_runs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    workflow_id uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    triggered_by uuid REFERENCES users (id) ON DELETE SET NULL,
    trigger_type text NOT NULL,
    trigger_payload jsonb NOT NULL DEFAULT '{}'::jsonb,
    status text NOT NULL DEFAULT 'queued',
    attempt integer NOT NULL DEFAULT 1,
    idempotency_key text,
    job_id bigint,
    output jsonb,
    error text,
    started_at timestamptz,
    finished_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_workflow_runs_workspace_id_idempotency_key
        UNIQUE (workspace_id, idempotency_key),
    CONSTRAINT ck_workflow_runs_status
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled'))
);
CREATE INDEX ix_workflow_runs_workspace_id_workflow_id_created_at
    ON workflow_runs (workspace_id, workflow_id, created_at DESC);
CREATE INDEX ix_workflow_runs_workspace_id_status ON workflow_runs (workspace_id, status);

CREATE TABLE workflow_step_logs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    run_id uuid NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    step_index integer NOT NULL,
    step_type text NOT NULL,
    status text NOT NULL DEFAULT 'running',
    input jsonb,
    output jsonb,
    error text,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    duration_ms integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_workflow_step_logs_status
        CHECK (status IN ('running', 'succeeded', 'failed', 'skipped'))
);
CREATE INDEX ix_workflow_step_logs_workspace_id_run_id_step_index
    ON workflow_step_logs (workspace_id, run_id, step_index);

CREATE TABLE conversation_sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title text NOT NULL DEFAULT '',
    base_id text,
    provider text,
    model text,
    settings jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_active boolean NOT NULL DEFAULT true,
    total_messages integer NOT NULL DEFAULT 0,
    total_tokens bigint NOT NULL DEFAULT 0,
    total_cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_conversation_sessions_workspace_id_user_id_last_activity_at
    ON conversation_sessions (workspace_id, user_id, last_activity_at DESC);
CREATE INDEX ix_conversation_sessions_metadata
    ON conversation_sessions USING gin (workspace_id, metadata);
CREATE INDEX ix_conversation_sessions_workspace_id_metadata_base_id
    ON conversation_sessions (workspace_id, (metadata ->> 'base_id'));
CREATE INDEX ix_conversation_sessions_workspace_id_title_trgm
    ON conversation_sessions USING gin (workspace_id, title gin_trgm_ops);

CREATE TABLE session_budgets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    session_id uuid NOT NULL REFERENCES conversation_sessions (id) ON DELETE CASCADE,
    limit_usd numeric(14, 6) NOT NULL,
    spent_usd numeric(14, 6) NOT NULL DEFAULT 0,
    alert_threshold numeric(4, 3) NOT NULL DEFAULT 0.8,
    reset_period text NOT NULL DEFAULT 'session',
    period_start timestamptz NOT NULL DEFAULT now(),
    reset_at timestamptz,
    is_active boolean NOT NULL DEFAULT true,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_session_budgets_session_id UNIQUE (session_id),
    CONSTRAINT ck_session_budgets_limit_usd CHECK (limit_usd >= 0),
    CONSTRAINT ck_session_budgets_alert_threshold
        CHECK (alert_threshold > 0 AND alert_threshold <= 1),
    CONSTRAINT ck_session_budgets_reset_period
        CHECK (reset_period IN ('session', 'daily', 'weekly', 'monthly'))
);
CREATE INDEX ix_session_budgets_workspace_id_session_id
    ON session_budgets (workspace_id, session_id);

CREATE TABLE user_budgets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    limit_usd numeric(14, 6) NOT NULL,
    spent_usd numeric(14, 6) NOT NULL DEFAULT 0,
    alert_threshold numeric(4, 3) NOT NULL DEFAULT 0.8,
    reset_period text NOT NULL DEFAULT 'monthly',
    period_start timestamptz NOT NULL DEFAULT now(),
    period_end timestamptz,
    is_active boolean NOT NULL DEFAULT true,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_user_budgets_limit_usd CHECK (limit_usd >= 0),
    CONSTRAINT ck_user_budgets_alert_threshold
        CHECK (alert_threshold > 0 AND alert_threshold <= 1),
    CONSTRAINT ck_user_budgets_reset_period
        CHECK (reset_period IN ('daily', 'weekly', 'monthly', 'total'))
);
CREATE UNIQUE INDEX uq_user_budgets_workspace_id_user_id_reset_period_active
    ON user_budgets (workspace_id, user_id, reset_period) WHERE is_active;

CREATE TABLE budget_alerts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    session_id uuid REFERENCES conversation_sessions (id) ON DELETE SET NULL,
    budget_type text NOT NULL,
    budget_id uuid,
    alert_type text NOT NULL,
    threshold_percent numeric(6, 2),
    current_usage_usd numeric(14, 6) NOT NULL DEFAULT 0,
    budget_limit_usd numeric(14, 6) NOT NULL DEFAULT 0,
    message text NOT NULL DEFAULT '',
    is_acknowledged boolean NOT NULL DEFAULT false,
    acknowledged_at timestamptz,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_budget_alerts_budget_type
        CHECK (budget_type IN ('session', 'user', 'workspace')),
    CONSTRAINT ck_budget_alerts_alert_type
        CHECK (alert_type IN ('threshold_exceeded', 'budget_exceeded', 'budget_reset'))
);
CREATE INDEX ix_budget_alerts_workspace_id_created_at
    ON budget_alerts (workspace_id, created_at DESC);

CREATE TABLE analytics_events (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    session_id uuid,
    event_type text NOT NULL,
    properties jsonb NOT NULL DEFAULT '{}'::jsonb,
    ip_address inet,
    user_agent text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_analytics_events_workspace_id_event_type_created_at
    ON analytics_events (workspace_id, event_type, created_at DESC);
"""

# Time-series tables: the time column is part of the primary key because both hypertables and
# partitioned tables require every unique index to include the partitioning column.
TIME_SERIES = r"""
CREATE TABLE api_usage_logs (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    session_id uuid,
    request_id text,
    service_name text NOT NULL DEFAULT 'llm',
    provider text,
    model text,
    endpoint text NOT NULL DEFAULT '',
    tool_name text,
    input_tokens integer NOT NULL DEFAULT 0,
    output_tokens integer NOT NULL DEFAULT 0,
    total_tokens integer NOT NULL DEFAULT 0,
    cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
    latency_ms integer,
    status_code integer,
    success boolean NOT NULL DEFAULT true,
    error_message text,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_api_usage_logs PRIMARY KEY (id, created_at)
) {partitioning};

CREATE TABLE conversation_messages (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id uuid NOT NULL REFERENCES conversation_sessions (id) ON DELETE CASCADE,
    role text NOT NULL,
    content text NOT NULL DEFAULT '',
    thinking_process text,
    tools_used jsonb NOT NULL DEFAULT '[]'::jsonb,
    token_count integer NOT NULL DEFAULT 0,
    cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
    model text,
    response_time_ms integer,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', content), 'A')
        || setweight(to_tsvector('english', coalesce(thinking_process, '')), 'B')
    ) STORED,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_conversation_messages PRIMARY KEY (id, created_at),
    CONSTRAINT ck_conversation_messages_role
        CHECK (role IN ('user', 'assistant', 'system', 'tool'))
) {partitioning};
"""

TIME_SERIES_INDEXES = r"""
CREATE INDEX ix_api_usage_logs_workspace_id_created_at
    ON api_usage_logs (workspace_id, created_at DESC);
CREATE INDEX ix_api_usage_logs_workspace_id_user_id_created_at
    ON api_usage_logs (workspace_id, user_id, created_at DESC);
CREATE INDEX ix_api_usage_logs_workspace_id_model_created_at
    ON api_usage_logs (workspace_id, model, created_at DESC);
CREATE INDEX ix_api_usage_logs_workspace_id_session_id
    ON api_usage_logs (workspace_id, session_id, created_at DESC);
CREATE INDEX ix_api_usage_logs_metadata ON api_usage_logs USING gin (workspace_id, metadata);
CREATE INDEX ix_api_usage_logs_workspace_id_metadata_base_id
    ON api_usage_logs (workspace_id, (metadata ->> 'base_id'), created_at DESC);

CREATE INDEX ix_conversation_messages_workspace_id_session_id_created_at
    ON conversation_messages (workspace_id, session_id, created_at);
CREATE INDEX ix_conversation_messages_tools_used
    ON conversation_messages USING gin (workspace_id, tools_used);
CREATE INDEX ix_conversation_messages_workspace_id_search_vector
    ON conversation_messages USING gin (workspace_id, search_vector);
"""

# The hourly rollup of api_usage_logs: the Apache-edition substitute for a continuous aggregate
# (docs/decisions/0003-time-series.md). `usage_rollup_refresh()` aggregates closed hours up to a
# watermark; a row trigger marks the hour of every row written below the current clock hour
# as dirty, and the next refresh re-aggregates those hours. The analytics repository reads the
# rollup for clean closed hours and the raw table for the rest, so answers are exact.
ROLLUP = r"""
CREATE TABLE api_usage_hourly (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    bucket timestamptz NOT NULL,
    -- No foreign keys: a deleted user's raw rows become NULL (ON DELETE SET NULL), which marks
    -- their hours dirty; the refresh then regroups them.
    user_id uuid,
    model text,
    tool_name text,
    requests bigint NOT NULL,
    errors bigint NOT NULL,
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    total_tokens bigint NOT NULL,
    cost_usd numeric(20, 6) NOT NULL,
    latency_count bigint NOT NULL,
    latency_sum_ms bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_api_usage_hourly_workspace_id_bucket_user_id_model_tool_name
        UNIQUE NULLS NOT DISTINCT (workspace_id, bucket, user_id, model, tool_name),
    CONSTRAINT ck_api_usage_hourly_bucket
        CHECK (bucket = date_bin(interval '1 hour', bucket, timestamptz '2000-01-03 00:00:00+00'))
);
CREATE INDEX ix_api_usage_hourly_bucket ON api_usage_hourly (bucket);

-- One row: every hour before rolled_up_until is in the rollup, except the dirty ones.
CREATE TABLE api_usage_rollup_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    rolled_up_until timestamptz,
    refreshed_at timestamptz
);
INSERT INTO api_usage_rollup_state DEFAULT VALUES;

-- Hours that received rows (or lost some) after the clock left them: re-aggregated next time.
CREATE TABLE api_usage_rollup_dirty (
    hour timestamptz PRIMARY KEY,
    marked_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION api_usage_mark_dirty() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    origin constant timestamptz := '2000-01-03 00:00:00+00';
    open_hour timestamptz := date_bin(interval '1 hour', clock_timestamp(), origin);
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.created_at < open_hour THEN
        INSERT INTO api_usage_rollup_dirty (hour)
        VALUES (date_bin(interval '1 hour', NEW.created_at, origin)) ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.created_at < open_hour THEN
        INSERT INTO api_usage_rollup_dirty (hour)
        VALUES (date_bin(interval '1 hour', OLD.created_at, origin)) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;

-- Rows of the open hour (the normal case: created_at defaults to now()) do not fire it. The
-- clock, not now(): a transaction that began in the previous hour and inserts after the
-- refresh must still mark that hour.
CREATE TRIGGER trg_api_usage_logs_rollup_insert AFTER INSERT ON api_usage_logs FOR EACH ROW
    WHEN (NEW.created_at < date_bin(
        interval '1 hour', clock_timestamp(), timestamptz '2000-01-03 00:00:00+00'))
    EXECUTE FUNCTION api_usage_mark_dirty();
CREATE TRIGGER trg_api_usage_logs_rollup_change AFTER UPDATE OR DELETE ON api_usage_logs
    FOR EACH ROW EXECUTE FUNCTION api_usage_mark_dirty();

-- Rolls up the closed hours from the watermark (at most p_max_span of them) and re-aggregates
-- the dirty hours below it. Idempotent: each hour it touches is deleted and rebuilt from the
-- raw rows in one transaction.
CREATE FUNCTION usage_rollup_refresh(
    p_max_span interval DEFAULT interval '7 days', p_max_dirty integer DEFAULT 168
)
RETURNS TABLE (hours_rolled integer, dirty_hours integer, rolled_up_until timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET lock_timeout = '5s'
AS $$
DECLARE
    origin constant timestamptz := '2000-01-03 00:00:00+00';
    closed timestamptz;
    wm timestamptz;
    new_wm timestamptz;
    dirty timestamptz[];
    h timestamptz;
BEGIN
    IF p_max_span IS NULL OR p_max_span < interval '1 hour' THEN
        RAISE EXCEPTION 'max span must be at least one hour, got %', p_max_span
            USING ERRCODE = '22023';
    END IF;
    IF p_max_dirty IS NULL OR p_max_dirty < 1 THEN
        RAISE EXCEPTION 'max dirty hours must be at least 1, got %', p_max_dirty
            USING ERRCODE = '22023';
    END IF;
    -- SHARE waits for every transaction that is inserting usage rows and holds new inserts
    -- until this one commits: a row committed after the snapshot below cannot land in an hour
    -- being rolled up without its trigger seeing the clock past that hour.
    LOCK TABLE api_usage_logs IN SHARE MODE;
    closed := date_bin(interval '1 hour', clock_timestamp(), origin);
    SELECT s.rolled_up_until INTO wm FROM api_usage_rollup_state s FOR UPDATE;
    IF wm IS NULL THEN
        SELECT date_bin(interval '1 hour', min(u.created_at), origin) INTO wm
        FROM api_usage_logs u;
        wm := least(coalesce(wm, closed), closed);
    END IF;
    new_wm := greatest(wm, date_bin(interval '1 hour', least(closed, wm + p_max_span), origin));
    -- Dirty hours inside [wm, new_wm) are rebuilt by the range anyway; below wm, at most
    -- p_max_dirty per run (newest first), so a mass delete cannot hold inserts for long. The
    -- rest stay dirty, which readers answer from raw rows meanwhile.
    DELETE FROM api_usage_rollup_dirty d WHERE d.hour >= wm AND d.hour < new_wm;
    WITH picked AS (
        SELECT d.hour FROM api_usage_rollup_dirty d WHERE d.hour < wm
        ORDER BY d.hour DESC LIMIT p_max_dirty
    ), taken AS (
        DELETE FROM api_usage_rollup_dirty d USING picked p WHERE d.hour = p.hour
        RETURNING d.hour
    )
    SELECT coalesce(array_agg(t.hour ORDER BY t.hour), '{}') INTO dirty FROM taken t;

    DELETE FROM api_usage_hourly r
    WHERE (r.bucket >= wm AND r.bucket < new_wm) OR r.bucket = ANY (dirty);
    INSERT INTO api_usage_hourly (
        workspace_id, bucket, user_id, model, tool_name, requests, errors, input_tokens,
        output_tokens, total_tokens, cost_usd, latency_count, latency_sum_ms
    )
    SELECT u.workspace_id, date_bin(interval '1 hour', u.created_at, origin), u.user_id,
           u.model, u.tool_name, count(*), count(*) FILTER (WHERE NOT u.success),
           sum(u.input_tokens), sum(u.output_tokens), sum(u.total_tokens), sum(u.cost_usd),
           count(u.latency_ms), coalesce(sum(u.latency_ms), 0)
    FROM api_usage_logs u
    WHERE u.created_at >= wm AND u.created_at < new_wm
    GROUP BY 1, 2, 3, 4, 5;
    FOREACH h IN ARRAY dirty LOOP
        INSERT INTO api_usage_hourly (
            workspace_id, bucket, user_id, model, tool_name, requests, errors, input_tokens,
            output_tokens, total_tokens, cost_usd, latency_count, latency_sum_ms
        )
        SELECT u.workspace_id, h, u.user_id, u.model, u.tool_name, count(*),
               count(*) FILTER (WHERE NOT u.success), sum(u.input_tokens),
               sum(u.output_tokens), sum(u.total_tokens), sum(u.cost_usd),
               count(u.latency_ms), coalesce(sum(u.latency_ms), 0)
        FROM api_usage_logs u
        WHERE u.created_at >= h AND u.created_at < h + interval '1 hour'
        GROUP BY 1, 3, 4, 5;
    END LOOP;
    UPDATE api_usage_rollup_state s SET rolled_up_until = new_wm, refreshed_at = now();
    RETURN QUERY SELECT (extract(epoch FROM new_wm - wm) / 3600)::integer,
                        cardinality(dirty), new_wm;
END;
$$;

-- The state a reader needs: the watermark and the dirty hours below it inside a window.
CREATE FUNCTION usage_rollup_status(p_start timestamptz, p_end timestamptz)
RETURNS TABLE (rolled_up_until timestamptz, dirty_hours timestamptz[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT s.rolled_up_until,
           coalesce((SELECT array_agg(d.hour ORDER BY d.hour) FROM api_usage_rollup_dirty d
                     WHERE d.hour > p_start - interval '1 hour' AND d.hour < p_end
                       AND d.hour < s.rolled_up_until), '{}')
    FROM api_usage_rollup_state s
$$;

-- Derived rows: services read them (RLS), only the SECURITY DEFINER refresh writes them.
CREATE POLICY api_usage_hourly_owner ON api_usage_hourly TO CURRENT_USER
    USING (true) WITH CHECK (true);
-- The refresh reads every workspace's raw rows as the owner, which FORCE subjects to RLS.
CREATE POLICY api_usage_logs_owner_read ON api_usage_logs FOR SELECT TO CURRENT_USER
    USING (true);
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON api_usage_hourly FROM application_user, admin_user;
REVOKE ALL ON api_usage_rollup_state, api_usage_rollup_dirty FROM application_user, admin_user;
REVOKE EXECUTE ON FUNCTION usage_rollup_refresh(interval, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION usage_rollup_status(timestamptz, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION api_usage_mark_dirty() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION usage_rollup_refresh(interval, integer) TO application_user, admin_user;
GRANT EXECUTE ON FUNCTION usage_rollup_status(timestamptz, timestamptz)
    TO application_user, admin_user;
"""

# Planner statistics for the analytics GROUP BYs. Without them PostgreSQL expects about one
# group per row for `bucket(created_at), dimension` and picks a sort-based GroupAggregate that
# spills to disk; with ndistinct statistics on the very bucket expressions the queries use
# (kit.timeseries.bucket: time_bucket or date_bin) it picks a HashAggregate. One object per
# width covers every dimension (ndistinct is kept for each subset of the columns).
STATISTICS = """
CREATE STATISTICS st_api_usage_logs_hour (ndistinct)
    ON ({hour_logs}), workspace_id, user_id, model, tool_name FROM api_usage_logs;
CREATE STATISTICS st_api_usage_logs_day (ndistinct)
    ON ({day_logs}), workspace_id, user_id, model, tool_name FROM api_usage_logs;
CREATE STATISTICS st_api_usage_hourly_day (ndistinct)
    ON ({day_hourly}), workspace_id, user_id, model, tool_name FROM api_usage_hourly;
"""


def _statistics(timescale: bool) -> str:
    def expr(width: str, column: str) -> str:
        if timescale:
            return f"time_bucket(INTERVAL '{width}', {column})"
        return f"date_bin(INTERVAL '{width}', {column}, TIMESTAMPTZ '2000-01-03 00:00:00+00')"

    return STATISTICS.format(
        hour_logs=expr("1 hours", "created_at"),
        day_logs=expr("1 days", "created_at"),
        day_hourly=expr("1 days", "bucket"),
    )


# Row-level security. Kinds follow docs/decisions/0002-row-level-security.md.
TENANT_TABLES = (
    "workspace_invitations",
    "api_keys",
    "airtable_connections",
    "airtable_bases",
    "airtable_tables",
    "airtable_fields",
    "airtable_records",
    "actions",
    "files",
    "workflows",
    "workflow_runs",
    "workflow_step_logs",
    "api_usage_logs",
    "api_usage_hourly",
    "session_budgets",
    "budget_alerts",
    "analytics_events",
)
PERSONAL_TABLES = ("conversation_sessions", "conversation_messages", "user_budgets")
NEW_TABLES = (
    "audit_log",
    "airtable_connections",
    "airtable_bases",
    "airtable_tables",
    "airtable_fields",
    "airtable_records",
    "actions",
    "files",
    "workflows",
    "workflow_runs",
    "workflow_step_logs",
    "conversation_sessions",
    "session_budgets",
    "user_budgets",
    "budget_alerts",
    "analytics_events",
    "api_usage_logs",
    "api_usage_hourly",
    "conversation_messages",
)
# Append-only telemetry is not audited: an audit row per LLM call or page event would double
# the write volume of the busiest tables and record nothing a user changed.
# The rollup is derived from api_usage_logs and rebuilt by the refresh, so it is not either.
NOT_AUDITED = ("audit_log", "api_usage_logs", "api_usage_hourly", "analytics_events")
AUDITED = (
    "users",
    "workspaces",
    "workspace_members",
    "workspace_invitations",
    "refresh_tokens",
    *(t for t in ("api_keys", *NEW_TABLES) if t not in NOT_AUDITED),
)
FOUNDATION_RLS_TABLES = (
    "workspaces",
    "workspace_members",
    "workspace_invitations",
    "api_keys",
    "refresh_tokens",
)

SPECIAL_POLICIES = r"""
CREATE POLICY workspaces_select ON workspaces FOR SELECT USING (
    id = app_current_workspace_id()
    OR EXISTS (
        SELECT 1 FROM workspace_members m
        WHERE m.workspace_id = workspaces.id AND m.user_id = app_current_user_id()
    )
);
CREATE POLICY workspaces_insert ON workspaces FOR INSERT
    WITH CHECK (created_by = app_current_user_id());
CREATE POLICY workspaces_update ON workspaces FOR UPDATE
    USING (id = app_current_workspace_id()) WITH CHECK (id = app_current_workspace_id());
CREATE POLICY workspaces_delete ON workspaces FOR DELETE USING (id = app_current_workspace_id());

CREATE POLICY workspace_members_select ON workspace_members FOR SELECT USING (
    workspace_id = app_current_workspace_id() OR user_id = app_current_user_id()
);
CREATE POLICY workspace_members_insert ON workspace_members FOR INSERT
    WITH CHECK (workspace_id = app_current_workspace_id());
CREATE POLICY workspace_members_update ON workspace_members FOR UPDATE
    USING (workspace_id = app_current_workspace_id())
    WITH CHECK (workspace_id = app_current_workspace_id());
CREATE POLICY workspace_members_delete ON workspace_members FOR DELETE
    USING (workspace_id = app_current_workspace_id());

CREATE POLICY refresh_tokens_user_isolation ON refresh_tokens
    USING (user_id = app_current_user_id()) WITH CHECK (user_id = app_current_user_id());

CREATE POLICY audit_log_select ON audit_log FOR SELECT
    USING (workspace_id = app_current_workspace_id());
-- The trigger and the purge function run as the owner, which FORCE subjects to RLS too.
CREATE POLICY audit_log_owner ON audit_log TO CURRENT_USER USING (true) WITH CHECK (true);
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_log FROM application_user, admin_user;
"""


def _has_timescaledb() -> bool:
    bind = op.get_bind()
    return bool(
        bind.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).scalar()
    )


def upgrade() -> None:
    op.execute(EXTENSIONS)
    op.execute(TABLES)
    timescale = _has_timescaledb()
    op.execute(
        TIME_SERIES.replace(
            "{partitioning}", "" if timescale else "PARTITION BY RANGE (created_at)"
        )
    )
    op.execute(FUNCTIONS)
    if timescale:
        for table in ("api_usage_logs", "conversation_messages"):
            op.execute(
                f"SELECT create_hypertable('{table}', "
                f"by_range('created_at', ts_chunk_interval('{table}')))"
            )
    # A week back and a month ahead; the scheduled job keeps creating them ahead from then on.
    for table in ("api_usage_logs", "conversation_messages"):
        op.execute(
            f"SELECT ts_ensure_partitions('{table}', interval '30 days', now() - interval '7 days')"
        )
    op.execute(TIME_SERIES_INDEXES)
    op.execute(ROLLUP)
    op.execute(_statistics(timescale))

    for table in (*FOUNDATION_RLS_TABLES, *NEW_TABLES):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    for table in TENANT_TABLES:
        op.execute(
            f"CREATE POLICY {table}_tenant_isolation ON {table} "
            "USING (workspace_id = app_current_workspace_id()) "
            "WITH CHECK (workspace_id = app_current_workspace_id())"
        )
    for table in PERSONAL_TABLES:
        rule = "workspace_id = app_current_workspace_id() AND user_id = app_current_user_id()"
        op.execute(
            f"CREATE POLICY {table}_user_isolation ON {table} USING ({rule}) WITH CHECK ({rule})"
        )
    op.execute(SPECIAL_POLICIES)

    for table in NEW_TABLES:
        if table != "audit_log":
            op.execute(
                f"CREATE TRIGGER trg_{table}_updated_at BEFORE UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
            )
    for table in AUDITED:
        op.execute(
            f"CREATE TRIGGER trg_{table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_row_change()"
        )


def downgrade() -> None:
    for table in (*FOUNDATION_RLS_TABLES, "users"):
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_audit ON {table}")
    for name in (
        "workspaces_select",
        "workspaces_insert",
        "workspaces_update",
        "workspaces_delete",
    ):
        op.execute(f"DROP POLICY IF EXISTS {name} ON workspaces")
    for name in ("select", "insert", "update", "delete"):
        op.execute(f"DROP POLICY IF EXISTS workspace_members_{name} ON workspace_members")
    op.execute("DROP POLICY IF EXISTS refresh_tokens_user_isolation ON refresh_tokens")
    for table in ("workspace_invitations", "api_keys"):
        op.execute(f"DROP POLICY IF EXISTS {table}_tenant_isolation ON {table}")
    for table in FOUNDATION_RLS_TABLES:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for table in reversed(NEW_TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("DROP TABLE IF EXISTS api_usage_rollup_dirty, api_usage_rollup_state")
    for signature in (
        "usage_rollup_status(timestamptz, timestamptz)",
        "usage_rollup_refresh(interval, integer)",
        "api_usage_mark_dirty()",
        "query_stats(text, integer)",
        "ts_apply_retention(text, interval)",
        "ts_ensure_partitions(text, interval, timestamptz)",
        "ts_is_partitioned(text)",
        "ts_lock_chunks(text)",
        "ts_chunk_interval(text)",
        "audit_purge(interval)",
        "audit_row_change()",
        "audit_redact(jsonb)",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
