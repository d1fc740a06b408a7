"""Accounts - SECURITY DEFINER lookups for authentication.

Revision ID: 0004_accounts
Revises: 0003_sandbox
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004_accounts"
down_revision: str | None = "0003_sandbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
