"""Full-text and fuzzy search over mirrored records, conversation messages and files.

Ranked full text uses the generated, weighted ``search_vector`` columns with
``websearch_to_tsquery`` (quotes, ``or``, ``-word`` work as users expect); when a source has no
full-text hit, a trigram fallback (``word_similarity``, indexed by ``<%`` on names and primary
values) finds typos. Highlights come from ``ts_headline``, computed for the returned page only
because it re-parses each document. Row-level security limits every query to the caller's
workspace (and, for messages, to the caller's own conversations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

Source = Literal["records", "messages", "files"]
Match = Literal["fulltext", "fuzzy"]
SOURCES: Final[tuple[Source, ...]] = ("records", "messages", "files")
MAX_QUERY_LENGTH: Final = 200
# Lower than pg_trgm's 0.6 default: one or two typos in a short word drop far below it.
FUZZY_THRESHOLD: Final = 0.3
HEADLINE_OPTIONS: Final = (
    "StartSel=<mark>, StopSel=</mark>, MaxWords=25, MinWords=8, MaxFragments=2, "
    "FragmentDelimiter= … "
)


@dataclass(frozen=True, slots=True)
class SearchHit:
    source: Source
    id: str
    title: str
    snippet: str
    rank: float
    match: Match
    ref: dict[str, Any] = field(default_factory=dict)


_FULLTEXT: Final[dict[Source, str]] = {
    "records": """
        SELECT h.*, ts_headline('simple', h.primary_value || ' — ' || h.searchable_text, h.q,
                                :opts) AS snippet
        FROM (
            SELECT r.id::text AS id, r.base_id, r.table_id, r.record_id, r.primary_value,
                   r.searchable_text, ts_rank_cd(r.search_vector, q, 32) AS rank, q
            FROM airtable_records r, websearch_to_tsquery('simple', :q) AS q
            WHERE r.workspace_id = app_current_workspace_id() AND r.deleted_at IS NULL
              AND r.search_vector @@ q
              AND (CAST(:base_id AS text) IS NULL OR r.base_id = :base_id)
              AND (CAST(:table_id AS text) IS NULL OR r.table_id = :table_id)
            ORDER BY rank DESC, r.id LIMIT :limit
        ) h ORDER BY h.rank DESC, h.id
    """,
    "messages": """
        SELECT h.*, ts_headline('english', h.content, h.q, :opts) AS snippet
        FROM (
            SELECT m.id::text AS id, m.session_id::text AS session_id, m.role, m.content,
                   m.created_at, ts_rank_cd(m.search_vector, q, 32) AS rank, q
            FROM conversation_messages m, websearch_to_tsquery('english', :q) AS q
            WHERE m.workspace_id = app_current_workspace_id() AND m.search_vector @@ q
            ORDER BY rank DESC, m.created_at DESC LIMIT :limit
        ) h ORDER BY h.rank DESC, h.created_at DESC
    """,
    "files": """
        SELECT h.*, ts_headline('english',
                                coalesce(nullif(h.extracted_text, ''), h.original_filename),
                                h.q, :opts) AS snippet
        FROM (
            SELECT f.id::text AS id, f.original_filename, f.mime_type, f.extracted_text,
                   ts_rank_cd(f.search_vector, q, 32) AS rank, q
            FROM files f, websearch_to_tsquery('english', :q) AS q
            WHERE f.workspace_id = app_current_workspace_id() AND f.search_vector @@ q
            ORDER BY rank DESC, f.id LIMIT :limit
        ) h ORDER BY h.rank DESC, h.id
    """,
}

_FUZZY: Final[dict[Source, str]] = {
    "records": """
        SELECT r.id::text AS id, r.base_id, r.table_id, r.record_id, r.primary_value,
               word_similarity(:q, r.primary_value) AS rank
        FROM airtable_records r
        WHERE r.workspace_id = app_current_workspace_id() AND r.deleted_at IS NULL
          AND :q <% r.primary_value
          AND (CAST(:base_id AS text) IS NULL OR r.base_id = :base_id)
          AND (CAST(:table_id AS text) IS NULL OR r.table_id = :table_id)
        ORDER BY rank DESC, r.id LIMIT :limit
    """,
    "messages": """
        SELECT m.id::text AS id, m.session_id::text AS session_id, m.role, m.content,
               word_similarity(:q, m.content) AS rank
        FROM conversation_messages m
        WHERE m.workspace_id = app_current_workspace_id() AND :q <% m.content
        ORDER BY rank DESC, m.created_at DESC LIMIT :limit
    """,
    "files": """
        SELECT f.id::text AS id, f.original_filename, f.mime_type, f.extracted_text,
               greatest(word_similarity(:q, f.original_filename),
                        word_similarity(:q, f.filename)) AS rank
        FROM files f
        WHERE f.workspace_id = app_current_workspace_id()
          AND (:q <% f.original_filename OR :q <% f.filename)
        ORDER BY rank DESC, f.id LIMIT :limit
    """,
}


def _excerpt(value: str | None, limit: int = 200) -> str:
    value = (value or "").strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _hit(source: Source, row: Any, match: Match) -> SearchHit:
    mapping = row._mapping
    snippet = mapping.get("snippet")
    if source == "records":
        return SearchHit(
            source=source,
            id=row.id,
            title=row.primary_value,
            snippet=snippet if snippet is not None else _excerpt(row.primary_value),
            rank=float(row.rank),
            match=match,
            ref={"base_id": row.base_id, "table_id": row.table_id, "record_id": row.record_id},
        )
    if source == "messages":
        return SearchHit(
            source=source,
            id=row.id,
            title=_excerpt(row.content, 80),
            snippet=snippet if snippet is not None else _excerpt(row.content),
            rank=float(row.rank),
            match=match,
            ref={"session_id": row.session_id, "role": row.role},
        )
    return SearchHit(
        source=source,
        id=row.id,
        title=row.original_filename,
        snippet=snippet if snippet is not None else _excerpt(row.extracted_text),
        rank=float(row.rank),
        match=match,
        ref={"mime_type": row.mime_type},
    )


class SearchRepository:
    """Search queries for the current RLS context."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def fulltext(
        self,
        source: Source,
        query: str,
        *,
        limit: int = 20,
        base_id: str | None = None,
        table_id: str | None = None,
    ) -> list[SearchHit]:
        """Ranked full-text hits with ``<mark>`` highlights."""
        rows = await self.session.execute(
            text(_FULLTEXT[source]),
            {
                "q": query,
                "opts": HEADLINE_OPTIONS,
                "limit": limit,
                "base_id": base_id,
                "table_id": table_id,
            },
        )
        return [_hit(source, row, "fulltext") for row in rows]

    async def fuzzy(
        self,
        source: Source,
        query: str,
        *,
        limit: int = 20,
        base_id: str | None = None,
        table_id: str | None = None,
        threshold: float = FUZZY_THRESHOLD,
    ) -> list[SearchHit]:
        """Trigram matches (typos, partial words), best ``word_similarity`` first."""
        await self.session.execute(
            text("SELECT set_config('pg_trgm.word_similarity_threshold', :t, true)"),
            {"t": str(threshold)},
        )
        rows = await self.session.execute(
            text(_FUZZY[source]),
            {"q": query, "limit": limit, "base_id": base_id, "table_id": table_id},
        )
        return [_hit(source, row, "fuzzy") for row in rows]

    async def search(
        self,
        query: str,
        *,
        sources: tuple[Source, ...] = SOURCES,
        limit: int = 20,
        base_id: str | None = None,
        table_id: str | None = None,
    ) -> list[SearchHit]:
        """Full text per source, falling back to fuzzy for sources without a full-text hit."""
        query = query.strip()[:MAX_QUERY_LENGTH]
        if not query:
            return []
        hits: list[SearchHit] = []
        for source in sources:
            found = await self.fulltext(
                source, query, limit=limit, base_id=base_id, table_id=table_id
            )
            if not found:
                found = await self.fuzzy(
                    source, query, limit=limit, base_id=base_id, table_id=table_id
                )
            hits.extend(found)
        # Full-text hits first (a word matched), then by rank within each kind.
        hits.sort(key=lambda h: (h.match != "fulltext", -h.rank))
        return hits[:limit]
