"""Search over mirrored records: ranked full text, then trigram fuzzy matching for typos.

Full text (``websearch_to_tsquery('simple', ...)``, case-insensitive, quotes/``or``/``-word``
work) runs over the weighted ``search_vector`` (primary value ``A``, every other value —
lookups, rollups and linked records' names included — ``B``). When nothing matches, the
fuzzy pass corrects each query word against the workspace's vocabulary
(``airtable_search_words``, trigram similarity over a small table) and runs the corrected
words through the same full-text index; a query no known word resembles is compared with
primary values by ``word_similarity`` as a last resort.
"""

from __future__ import annotations

import difflib
import re
from typing import Final

FUZZY_THRESHOLD: Final = 0.3
# A word found in very many records is ranked among this many of its matches, plus every
# record whose primary value matches (weight A, the best ranks; its own small index finds
# them). The cost of a common word is the GIN bitmap of all its matches plus one heap read
# per candidate: 2,000 candidates cost ~50 ms at a million records, 500 cost ~15 ms
# (bench/airtable.py search). Narrower queries rank every match.
RANK_CANDIDATES: Final = 500
MAX_QUERY_LENGTH: Final = 200
HEADLINE_OPTIONS: Final = (
    "StartSel=<mark>, StopSel=</mark>, MaxWords=25, MinWords=8, MaxFragments=2, "
    "FragmentDelimiter= … "
)

# "|| ''" keeps the planner from serving the base/table filter with the btree index on
# (workspace_id, base_id, table_id, ...) and checking the tsquery row by row: it misjudges
# how rare a word is, and for a rare word the GIN index on the vector is what is fast.
_FILTERS = """
      AND (CAST(:base_id AS text) IS NULL OR r.base_id || '' = :base_id)
      AND (CAST(:table_id AS text) IS NULL OR r.table_id || '' = :table_id)
"""

_FULLTEXT_TEMPLATE: Final = f"""
SELECT h.base_id, h.table_id, h.record_id, h.primary_value, h.synced_at, h.rank,
       t.name AS table_name, t.last_synced_at AS table_synced_at,
       ts_headline('simple', h.primary_value || ' — ' || h.searchable_text, h.q, :opts)
           AS snippet
FROM (
    SELECT c.base_id, c.table_id, c.record_id, c.primary_value, c.searchable_text,
           c.synced_at, ts_rank_cd(c.search_vector, c.q, 32) AS rank, c.q
    FROM (
        (SELECT r.base_id, r.table_id, r.record_id, r.primary_value, r.searchable_text,
                r.synced_at, r.search_vector, q
         FROM airtable_records r, {{tsquery}} AS q
         WHERE r.workspace_id = app_current_workspace_id()
           AND r.primary_vector @@ q
           {_FILTERS}
         LIMIT :candidates)
        UNION ALL
        (SELECT r.base_id, r.table_id, r.record_id, r.primary_value, r.searchable_text,
                r.synced_at, r.search_vector, q
         FROM airtable_records r, {{tsquery}} AS q
         WHERE r.workspace_id = app_current_workspace_id() AND r.search_vector @@ q
           AND NOT r.primary_vector @@ q
           {_FILTERS}
         LIMIT :candidates)
    ) c
    ORDER BY rank DESC, c.record_id
    LIMIT :limit
) h
LEFT JOIN airtable_tables t ON t.workspace_id = app_current_workspace_id()
    AND t.base_id = h.base_id AND t.table_id = h.table_id
ORDER BY h.rank DESC, h.record_id
"""

FULLTEXT_SQL: Final = _FULLTEXT_TEMPLATE.format(tsquery="websearch_to_tsquery('simple', :q)")
# The same over a tsquery built from corrected words (see corrected_tsquery).
CORRECTED_SQL: Final = _FULLTEXT_TEMPLATE.format(tsquery="to_tsquery('simple', :tsq)")

FUZZY_SQL: Final = f"""
SELECT h.*, t.name AS table_name, t.last_synced_at AS table_synced_at
FROM (
    SELECT r.base_id, r.table_id, r.record_id, r.primary_value,
           left(r.searchable_text, 4000) AS searchable_text, r.synced_at,
           word_similarity(:q, r.primary_value) AS rank
    FROM airtable_records r
    WHERE r.workspace_id = app_current_workspace_id() AND :q <% r.primary_value
      {_FILTERS}
    ORDER BY rank DESC, r.record_id
    LIMIT :limit
) h
LEFT JOIN airtable_tables t ON t.workspace_id = app_current_workspace_id()
    AND t.base_id = h.base_id AND t.table_id = h.table_id
ORDER BY h.rank DESC, h.record_id
"""

QUERY_WORD = re.compile(r"\w+", re.UNICODE)
MAX_CORRECTED_WORDS: Final = 5


def tsquery_of(alternatives: list[list[str]]) -> str:
    """``(a | b) & (c | d)`` with every lexeme quoted (they come from stored text)."""

    def quote(word: str) -> str:
        return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"

    return " & ".join("(" + " | ".join(quote(w) for w in group) + ")" for group in alternatives)


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
