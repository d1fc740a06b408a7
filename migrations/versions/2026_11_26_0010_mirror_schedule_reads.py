"""Let the mirror's scheduler see the bases it must sync.

``mirror_bases_due`` (migration 0005) is SECURITY DEFINER so the periodic job, which runs
without a tenant context, can list due bases across workspaces. But RLS is forced on
``airtable_bases`` and ``airtable_connections`` for their owner too, and neither had a policy
for the owner: the function always returned nothing and no scheduled sync ever ran. Like the
other definer lookups (``api_keys_definer_lookup``, ``tokens_definer_lookup``), the owner —
the role the function runs as — may read these two tables; ``application_user`` still sees
only its workspace's rows.

Revision ID: 0010_mirror_schedule_reads
Revises: 0009_uncertain_writes
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_mirror_schedule_reads"
down_revision: str | None = "0009_uncertain_writes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("airtable_bases", "airtable_connections")


def upgrade() -> None:
    for table in TABLES:
        op.execute(
            f"CREATE POLICY {table}_definer_lookup ON {table} FOR SELECT TO CURRENT_USER"
            " USING (true)"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP POLICY IF EXISTS {table}_definer_lookup ON {table}")
