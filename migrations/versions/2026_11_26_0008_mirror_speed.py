"""Mirror search speed - the primary value's own vector, GIN indexes without a pending list.

Revision ID: 0008_mirror_speed
Revises: 0007_ai
Create Date: 2026-11-26

- ``airtable_records.primary_vector``: the primary value alone as a tsvector (generated,
  stored) with its own GIN index. A word found in very many records is ranked among a
  bounded number of its matches (``core/mirror/search.py``); records whose primary value
  holds the words (weight ``A``, the best ranks) are always candidates because this small
  index finds them apart. A stored column rather than an expression index:
  ``to_tsvector`` is not ``LEAKPROOF``, so under RLS an expression index on it could not
  be used (docs/decisions/0006-search-under-rls.md); ``@@`` on a column is.
- ``fastupdate = off`` on the GIN indexes searched interactively: with the pending list on,
  every search also scans the not-yet-merged entries linearly (up to
  ``gin_pending_list_limit``, 4 MB) until a vacuum merges them, which makes search latency
  depend on how recently a sync wrote. The mirror writes in batches from background jobs,
  where the slower direct insertion costs nothing a user waits for.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008_mirror_speed"
down_revision: str | None = "0007_ai"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GIN_INDEXES = (
    "ix_airtable_records_search_vector",
    "ix_airtable_records_primary_value_trgm",
)


def upgrade() -> None:
    op.execute(
        "ALTER TABLE airtable_records ADD COLUMN primary_vector tsvector"
        " GENERATED ALWAYS AS (to_tsvector('simple', primary_value)) STORED"
    )
    op.execute(
        "CREATE INDEX ix_airtable_records_primary_vector ON airtable_records"
        " USING gin (primary_vector) WITH (fastupdate = off)"
    )
    for index in GIN_INDEXES:
        op.execute(f"ALTER INDEX {index} SET (fastupdate = off)")


def downgrade() -> None:
    for index in GIN_INDEXES:
        op.execute(f"ALTER INDEX {index} RESET (fastupdate)")
    op.execute("DROP INDEX IF EXISTS ix_airtable_records_primary_vector")
    op.execute("ALTER TABLE airtable_records DROP COLUMN IF EXISTS primary_vector")
