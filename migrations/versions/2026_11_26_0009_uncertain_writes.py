"""Uncertain writes and every REST write as an action.

``actions.status`` gains ``uncertain``: a create whose request may have reached Airtable
without an answer is recorded with what was attempted, never resent, and reconciled through
the mirror (then ``done``, ``partially_failed`` or ``failed``). ``actions.operation`` gains
``add_attachments`` (attachments by URL through the REST API).

Revision ID: 0009_uncertain_writes
Revises: 0008_mirror_speed
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009_uncertain_writes"
down_revision: str | None = "0008_mirror_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = (
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
STATUSES = (*OLD_STATUSES, "uncertain")
OLD_OPERATIONS = (
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
OPERATIONS = (*OLD_OPERATIONS, "add_attachments")


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _constraints(statuses: Sequence[str], operations: Sequence[str]) -> None:
    op.execute("ALTER TABLE actions DROP CONSTRAINT ck_actions_status")
    op.execute("ALTER TABLE actions DROP CONSTRAINT ck_actions_operation")
    op.execute(
        f"ALTER TABLE actions ADD CONSTRAINT ck_actions_status CHECK (status IN ({_in(statuses)}))"
    )
    op.execute(
        "ALTER TABLE actions ADD CONSTRAINT ck_actions_operation "
        f"CHECK (operation IN ({_in(operations)}))"
    )


def upgrade() -> None:
    _constraints(STATUSES, OPERATIONS)
    # The reconciliation job looks for the uncertain writes of a base.
    op.execute(
        "CREATE INDEX ix_actions_uncertain ON actions (workspace_id, base_id)"
        " WHERE status = 'uncertain'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_actions_uncertain")
    # The older schema cannot say "uncertain": such writes count as failed there.
    op.execute("ALTER TABLE actions DROP CONSTRAINT ck_actions_status")
    op.execute("UPDATE actions SET status = 'failed' WHERE status = 'uncertain'")
    op.execute("ALTER TABLE actions DROP CONSTRAINT ck_actions_operation")
    op.execute("DELETE FROM actions WHERE operation = 'add_attachments'")
    op.execute(
        f"ALTER TABLE actions ADD CONSTRAINT ck_actions_status CHECK (status IN ({_in(OLD_STATUSES)}))"
    )
    op.execute(
        "ALTER TABLE actions ADD CONSTRAINT ck_actions_operation "
        f"CHECK (operation IN ({_in(OLD_OPERATIONS)}))"
    )
