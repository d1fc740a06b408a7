"""Search over mirrored records: ranked full text, then trigram fuzzy matching for typos.

Full text (``websearch_to_tsquery('simple', ...)``, case-insensitive, quotes/``or``/``-word``
work) runs over the weighted ``search_vector`` (primary value ``A``, every other value —
lookups, rollups and linked records' names included — ``B``). When nothing matches, the
fuzzy pass compares the query with the primary value and the rest of the text by
``word_similarity`` (served by the trigram GIN indexes of both columns).
"""

from __future__ import annotations

import difflib
import re
from typing import Final

FUZZY_THRESHOLD: Final = 0.3
MAX_QUERY_LENGTH: Final = 200
HEADLINE_OPTIONS: Final = (
    "StartSel=<mark>, StopSel=</mark>, MaxWords=25, MinWords=8, MaxFragments=2, "
    "FragmentDelimiter= … "
)

_FILTERS = """
      AND (CAST(:base_id AS text) IS NULL OR r.base_id = :base_id)
      AND (CAST(:table_id AS text) IS NULL OR r.table_id = :table_id)
"""

FULLTEXT_SQL: Final = f"""
SELECT h.base_id, h.table_id, h.record_id, h.primary_value, h.synced_at, h.rank,
       t.name AS table_name, t.last_synced_at AS table_synced_at,
       ts_headline('simple', h.primary_value || ' — ' || h.searchable_text, h.q, :opts)
           AS snippet
FROM (
    SELECT r.base_id, r.table_id, r.record_id, r.primary_value, r.searchable_text,
           r.synced_at, ts_rank_cd(r.search_vector, q, 32) AS rank, q
    FROM airtable_records r, websearch_to_tsquery('simple', :q) AS q
    WHERE r.workspace_id = app_current_workspace_id() AND r.search_vector @@ q
      {_FILTERS}
    ORDER BY rank DESC, r.record_id
    LIMIT :limit
) h
LEFT JOIN airtable_tables t ON t.workspace_id = app_current_workspace_id()
    AND t.base_id = h.base_id AND t.table_id = h.table_id
ORDER BY h.rank DESC, h.record_id
"""

FUZZY_SQL: Final = f"""
SELECT h.*, t.name AS table_name, t.last_synced_at AS table_synced_at
FROM (
    SELECT r.base_id, r.table_id, r.record_id, r.primary_value,
           left(r.searchable_text, 4000) AS searchable_text, r.synced_at,
           greatest(word_similarity(:q, r.primary_value),
                    word_similarity(:q, r.searchable_text)) AS rank
    FROM airtable_records r
    WHERE r.workspace_id = app_current_workspace_id()
      AND (:q <% r.primary_value OR :q <% r.searchable_text)
      {_FILTERS}
    ORDER BY rank DESC, r.record_id
    LIMIT :limit
) h
LEFT JOIN airtable_tables t ON t.workspace_id = app_current_workspace_id()
    AND t.base_id = h.base_id AND t.table_id = h.table_id
ORDER BY h.rank DESC, h.record_id
"""

_WORD = re.compile(r"\w[\w'@.-]*", re.UNICODE)


def fuzzy_snippet(query: str, text: str, width: int = 120) -> str:
    """The text around the word closest to the query, that word in ``<mark>``.

    ``ts_headline`` marks only exact lexemes, which a typo never is.
    """
    words = list(_WORD.finditer(text))
    if not words:
        return text[:width]
    needle = query.lower()
    best = max(
        words,
        key=lambda m: difflib.SequenceMatcher(None, needle, m.group().lower()).ratio(),
    )
    start = max(0, best.start() - width // 2)
    end = min(len(text), best.end() + width // 2)
    before = ("…" if start else "") + text[start : best.start()]
    after = text[best.end() : end] + ("…" if end < len(text) else "")
    return f"{before}<mark>{best.group()}</mark>{after}"
