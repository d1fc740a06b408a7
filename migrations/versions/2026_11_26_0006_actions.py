"""Actions - the lifecycle of safe writes (preview, approve, run, revert).

Widens the statuses and operations of ``actions`` (0002) to what the actions service records:
``previewed → approved → running → done | partially_failed | failed``, then ``reverted``;
``expired`` and ``rejected`` for previews never applied. Schema and comment writes are actions
too. Adds the table name (for people reading the list), a human-readable summary of the change
and the execution result (per-record failures, the old → new id mapping of a revert).

Revision ID: 0006_actions
Revises: 0005_airtable
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_actions"
down_revision: str | None = "0005_airtable"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = (
    "previewed",
    "approved",
    "running",
    "done",
    "partially_failed",
    "failed",
    "rejected",
    "expired",
    "reverted",
)
OPERATIONS = (
    "create",
    "update",
    "delete",
    "upsert",
    "create_table",
    "update_table",
    "create_field",
    "update_field",
    "create_comment",
    "revert",
)
OLD_STATUSES = (
    "previewed",
    "approved",
    "executing",
    "executed",
    "failed",
    "rejected",
    "expired",
    "reverted",
)
OLD_OPERATIONS = ("create", "update", "delete", "upsert", "revert")


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def upgrade() -> None:
    op.execute("ALTER TABLE actions DROP CONSTRAINT ck_actions_status")
    op.execute("ALTER TABLE actions DROP CONSTRAINT ck_actions_operation")
    op.execute("UPDATE actions SET status = 'running' WHERE status = 'executing'")
    op.execute("UPDATE actions SET status = 'done' WHERE status = 'executed'")
    op.execute(
        f"ALTER TABLE actions ADD CONSTRAINT ck_actions_status CHECK (status IN ({_in(STATUSES)}))"
    )
    op.execute(
        "ALTER TABLE actions ADD CONSTRAINT ck_actions_operation "
        f"CHECK (operation IN ({_in(OPERATIONS)}))"
    )
    op.execute(
        """
        ALTER TABLE actions
            ADD COLUMN table_name text,
            ADD COLUMN summary text,
            ADD COLUMN result jsonb NOT NULL DEFAULT '{}'::jsonb
        """
    )
    # "What did this record go through": the revert check and the UI look actions up by record.
    op.execute(
        "CREATE INDEX ix_actions_workspace_id_record_ids ON actions USING gin (workspace_id, record_ids)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_actions_workspace_id_record_ids")
    op.execute(
        "ALTER TABLE actions DROP COLUMN result, DROP COLUMN summary, DROP COLUMN table_name"
    )
    op.execute("ALTER TABLE actions DROP CONSTRAINT ck_actions_status")
    op.execute("ALTER TABLE actions DROP CONSTRAINT ck_actions_operation")
    op.execute("UPDATE actions SET status = 'executing' WHERE status = 'running'")
    op.execute(
        "UPDATE actions SET status = 'executed' WHERE status IN ('done', 'partially_failed')"
    )
    op.execute(f"DELETE FROM actions WHERE operation NOT IN ({_in(OLD_OPERATIONS)})")
    op.execute(
        f"ALTER TABLE actions ADD CONSTRAINT ck_actions_status CHECK (status IN ({_in(OLD_STATUSES)}))"
    )
    op.execute(
        "ALTER TABLE actions ADD CONSTRAINT ck_actions_operation "
        f"CHECK (operation IN ({_in(OLD_OPERATIONS)}))"
    )
