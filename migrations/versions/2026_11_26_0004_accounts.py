"""Accounts - SECURITY DEFINER lookups for authentication.

Lookups that must run before an identity (and so an RLS context) exists: an API key by its
prefix, a refresh token by its hash, an invitation by its token hash. Each function is owned
by the migration role, pins its search_path and returns only the columns the check needs
(docs/decisions/0002-row-level-security.md).

Revision ID: 0004_accounts
Revises: 0003_sandbox
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_accounts"
down_revision: str | None = "0003_sandbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = {
    "auth_api_key_lookup(text)": r"""
CREATE FUNCTION auth_api_key_lookup(p_prefix text)
RETURNS TABLE (
    id uuid, workspace_id uuid, user_id uuid, key_hash text, scope text,
    expires_at timestamptz, revoked_at timestamptz,
    user_active boolean, is_platform_admin boolean, email text, role text
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT k.id, k.workspace_id, k.user_id, k.key_hash, k.scope, k.expires_at, k.revoked_at,
           u.is_active, u.is_platform_admin, u.email, m.role
    FROM api_keys k
    JOIN users u ON u.id = k.user_id
    LEFT JOIN workspace_members m ON m.workspace_id = k.workspace_id AND m.user_id = k.user_id
    WHERE k.prefix = p_prefix
$$;
""",
    "auth_refresh_token_lookup(text)": r"""
CREATE FUNCTION auth_refresh_token_lookup(p_token_hash text)
RETURNS TABLE (
    id uuid, user_id uuid, family_id uuid, workspace_id uuid,
    expires_at timestamptz, used_at timestamptz, revoked_at timestamptz
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT t.id, t.user_id, t.family_id, t.workspace_id, t.expires_at, t.used_at, t.revoked_at
    FROM refresh_tokens t
    WHERE t.token_hash = p_token_hash
$$;
""",
    "auth_invitation_lookup(text)": r"""
CREATE FUNCTION auth_invitation_lookup(p_token_hash text)
RETURNS TABLE (
    id uuid, workspace_id uuid, email text, role text, expires_at timestamptz,
    accepted_at timestamptz, revoked_at timestamptz
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT i.id, i.workspace_id, i.email, i.role, i.expires_at, i.accepted_at, i.revoked_at
    FROM workspace_invitations i
    WHERE i.token_hash = p_token_hash
$$;
""",
}


# FORCE ROW LEVEL SECURITY (0002) applies RLS to the table owner too, and the functions
# above run as the owner: without these read-only owner policies they would see no rows.
# Only the owner role (the migration role, never a service) gets them.
DEFINER_READ_TABLES = ("api_keys", "refresh_tokens", "workspace_invitations", "workspace_members")


def upgrade() -> None:
    for table in DEFINER_READ_TABLES:
        op.execute(
            f"CREATE POLICY {table}_definer_lookup ON {table} FOR SELECT TO CURRENT_USER USING (true)"
        )
    for signature, ddl in FUNCTIONS.items():
        op.execute(ddl)
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO application_user")


def downgrade() -> None:
    for table in DEFINER_READ_TABLES:
        op.execute(f"DROP POLICY IF EXISTS {table}_definer_lookup ON {table}")
    for signature in reversed(list(FUNCTIONS)):
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
