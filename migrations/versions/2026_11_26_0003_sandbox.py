"""Sandbox Airtable - its own schema.

Revision ID: 0003_sandbox
Revises: 0002_data_platform
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0003_sandbox"
down_revision: str | None = "0002_data_platform"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
