"""AI service - workspace LLM providers, workspace budgets, chat approvals, analysis reports.

``conversation_sessions``, ``conversation_messages``, ``api_usage_logs``, ``session_budgets``,
``user_budgets`` and ``budget_alerts`` come from 0002; this revision adds what the ai service
needs beside them:

- ``ai_provider_settings``: one row per workspace overriding the deployment's LLM provider,
  with the API key encrypted by ``kit.crypto.SecretBox`` (the column name contains
  ``encrypted`` so the audit trigger redacts it);
- ``workspace_budgets``: a spending limit for a whole workspace per period;
- ``chat_approvals``: writes the model proposed in a chat, waiting for the user's decision;
- ``analysis_reports``: the stored results of ``POST /api/v1/analysis``;
- ``api_usage_logs.cached_tokens`` / ``thinking_tokens``: the token kinds priced apart.

Revision ID: 0007_ai
Revises: 0006_actions
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007_ai"
down_revision: str | None = "0006_actions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = r"""
CREATE TABLE ai_provider_settings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    provider text NOT NULL,
    model text,
    base_url text,
    api_key_encrypted text,
    updated_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_ai_provider_settings_workspace_id UNIQUE (workspace_id),
    CONSTRAINT ck_ai_provider_settings_provider
        CHECK (provider IN ('gemini', 'openai', 'anthropic', 'openai-compatible'))
);

CREATE TABLE workspace_budgets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    limit_usd numeric(14, 6) NOT NULL,
    alert_threshold numeric(4, 3) NOT NULL DEFAULT 0.8,
    reset_period text NOT NULL DEFAULT 'monthly',
    is_active boolean NOT NULL DEFAULT true,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_workspace_budgets_limit_usd CHECK (limit_usd >= 0),
    CONSTRAINT ck_workspace_budgets_alert_threshold
        CHECK (alert_threshold > 0 AND alert_threshold <= 1),
    CONSTRAINT ck_workspace_budgets_reset_period
        CHECK (reset_period IN ('daily', 'weekly', 'monthly', 'total'))
);
CREATE UNIQUE INDEX uq_workspace_budgets_workspace_id_reset_period_active
    ON workspace_budgets (workspace_id, reset_period) WHERE is_active;

CREATE TABLE chat_approvals (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id uuid NOT NULL REFERENCES conversation_sessions (id) ON DELETE CASCADE,
    turn_id text NOT NULL,
    action_id text NOT NULL,
    tool_call_id text NOT NULL,
    tool_name text NOT NULL,
    arguments jsonb NOT NULL DEFAULT '{}'::jsonb,
    preview jsonb NOT NULL DEFAULT '{}'::jsonb,
    approval_token_encrypted text,
    status text NOT NULL DEFAULT 'pending',
    result jsonb,
    decided_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_chat_approvals_status
        CHECK (status IN ('pending', 'approved', 'rejected', 'failed', 'reverted'))
);
CREATE INDEX ix_chat_approvals_workspace_id_session_id_status
    ON chat_approvals (workspace_id, session_id, status);
CREATE INDEX ix_chat_approvals_workspace_id_action_id
    ON chat_approvals (workspace_id, action_id);

CREATE TABLE analysis_reports (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    session_id uuid REFERENCES conversation_sessions (id) ON DELETE SET NULL,
    base_id text NOT NULL,
    table_name text NOT NULL,
    status text NOT NULL DEFAULT 'done',
    report text NOT NULL DEFAULT '',
    tools_used jsonb NOT NULL DEFAULT '[]'::jsonb,
    cost_usd numeric(14, 6) NOT NULL DEFAULT 0,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_analysis_reports_status CHECK (status IN ('done', 'failed'))
);
CREATE INDEX ix_analysis_reports_workspace_id_created_at
    ON analysis_reports (workspace_id, created_at DESC);

-- Cached and thinking tokens are priced differently from plain input and output tokens.
ALTER TABLE api_usage_logs
    ADD COLUMN cached_tokens integer NOT NULL DEFAULT 0,
    ADD COLUMN thinking_tokens integer NOT NULL DEFAULT 0;
"""

TENANT_TABLES = ("ai_provider_settings", "workspace_budgets", "analysis_reports")
PERSONAL_TABLES = ("chat_approvals",)
NEW_TABLES = (*TENANT_TABLES, *PERSONAL_TABLES)


def upgrade() -> None:
    op.execute(TABLES)
    for table in NEW_TABLES:
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
    for table in NEW_TABLES:
        op.execute(
            f"CREATE TRIGGER trg_{table}_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
        )
        op.execute(
            f"CREATE TRIGGER trg_{table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_row_change()"
        )


def downgrade() -> None:
    op.execute("ALTER TABLE api_usage_logs DROP COLUMN thinking_tokens, DROP COLUMN cached_tokens")
    for table in reversed(NEW_TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
