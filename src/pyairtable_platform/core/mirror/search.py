"""Search over mirrored records: ranked full text, then trigram fuzzy matching for typos.

Full text (``websearch_to_tsquery('simple', ...)``, case-insensitive, quotes/``or``/``-word``
work) runs over the weighted ``search_vector`` (primary value ``A``, every other value —
lookups, rollups and linked records' names included — ``B``). When nothing matches, the
fuzzy pass corrects each query word against the workspace's vocabulary
(``airtable_search_words``, trigram similarity over a small table) and runs the corrected
words through the same full-text index; a query no known word resembles is compared with
primary values by ``word_similarity`` as a last resort.

A query's candidates are collected through the GIN indexes when it is rare in the
workspace and from its newest records when it is common (see ``PROBE_ROWS``), so a word
in most records costs about what a rare one does.
"""

from __future__ import annotations

import difflib
import re
from typing import Final

FUZZY_THRESHOLD: Final = 0.3
# Candidates: a word found in very many records is ranked among this many of its matches,
# plus every record whose primary value matches (weight A, the best ranks). Narrower queries
# rank every match.
RANK_CANDIDATES: Final = 500
# How candidates are found depends on how common the query is in the workspace, estimated
# from its PROBE_ROWS most recently modified records (btree order, ~1 ms). A GIN bitmap costs
# a little per match (~0.25 us) and must be complete before the first row: a word in 25 % of
# a million records costs ~80 ms, one in every title ~300 ms. Reading records newest first
# and checking the query row by row costs ~0.6 us per record read and stops at the
# RANK_CANDIDATES-th match, so it wins when at least COMMON_SHARE of the records match
# (bench/airtable.py search). SCAN_ROWS bounds that scan when the probe was unrepresentative.
PROBE_ROWS: Final = 2000
COMMON_SHARE: Final = 0.03
SCAN_ROWS: Final = 20_000
MAX_QUERY_LENGTH: Final = 200
HEADLINE_OPTIONS: Final = (
    "StartSel=<mark>, StopSel=</mark>, MaxWords=25, MinWords=8, MaxFragments=2, "
    "FragmentDelimiter= … "
)

# "|| ''" keeps the planner from serving the base/table filter of a GIN search with the
# btree index on (workspace_id, base_id, table_id, ...) and checking the tsquery row by row:
# it misjudges how rare a word is, and for a rare word the GIN index is what is fast.
_FILTERS = """
      AND (CAST(:base_id AS text) IS NULL OR r.base_id || '' = :base_id)
      AND (CAST(:table_id AS text) IS NULL OR r.table_id || '' = :table_id)
"""
# The newest records first, in the btree's order. The base/table filters become index
# conditions in a plan made for the parameters' values, which PostgreSQL keeps making for
# this statement once psycopg prepares it (pg_prepared_statements: 0 generic plans of 10);
# a generic plan would keep them as filters. ts_match_vq(v, q) is
# "v @@ q" written so that no GIN index can serve it: these scans check the records they
# read and stop early.
_NEWEST = """
    SELECT r.base_id, r.table_id, r.record_id, r.primary_value, r.searchable_text,
           r.synced_at, r.search_vector, r.primary_vector
    FROM airtable_records r
    WHERE r.workspace_id = app_current_workspace_id()
      AND (CAST(:base_id AS text) IS NULL OR r.base_id = :base_id)
      AND (CAST(:table_id AS text) IS NULL OR r.table_id = :table_id)
    ORDER BY r.workspace_id DESC, r.base_id DESC, r.table_id DESC,
             r.last_modified_time DESC
"""
_COLUMNS = """r.base_id, r.table_id, r.record_id, r.primary_value, r.searchable_text,
                r.synced_at, r.search_vector"""
_COMMON = int(PROBE_ROWS * COMMON_SHARE)

_FULLTEXT_TEMPLATE: Final = f"""
WITH query AS MATERIALIZED (SELECT {{tsquery}} AS q),
probe AS MATERIALIZED (
    SELECT count(*) FILTER (WHERE ts_match_vq(n.primary_vector, query.q)) AS in_primary,
           count(*) FILTER (WHERE ts_match_vq(n.search_vector, query.q)) AS in_any
    FROM query, ({_NEWEST} LIMIT {PROBE_ROWS}) n
),
primary_matches AS MATERIALIZED (
    (SELECT {_COLUMNS}
     FROM airtable_records r, query
     WHERE (SELECT in_primary FROM probe) < {_COMMON}
       AND r.workspace_id = app_current_workspace_id() AND r.primary_vector @@ query.q
       {_FILTERS}
     LIMIT :candidates)
    UNION ALL
    (SELECT {_COLUMNS}
     FROM ({_NEWEST} LIMIT {SCAN_ROWS}) r, query
     WHERE (SELECT in_primary FROM probe) >= {_COMMON}
       AND ts_match_vq(r.primary_vector, query.q)
     LIMIT :candidates)
),
other_matches AS MATERIALIZED (
    (SELECT {_COLUMNS}
     FROM airtable_records r, query
     WHERE (SELECT in_any - in_primary FROM probe) < {_COMMON}
       AND (SELECT count(*) FROM primary_matches) < :candidates
       AND r.workspace_id = app_current_workspace_id() AND r.search_vector @@ query.q
       AND NOT ts_match_vq(r.primary_vector, query.q)
       {_FILTERS}
     LIMIT :candidates)
    UNION ALL
    (SELECT {_COLUMNS}
     FROM ({_NEWEST} LIMIT {SCAN_ROWS}) r, query
     WHERE (SELECT in_any - in_primary FROM probe) >= {_COMMON}
       AND (SELECT count(*) FROM primary_matches) < :candidates
       AND ts_match_vq(r.search_vector, query.q) AND NOT ts_match_vq(r.primary_vector, query.q)
     LIMIT :candidates)
)
SELECT h.base_id, h.table_id, h.record_id, h.primary_value, h.synced_at, h.rank,
       t.name AS table_name, t.last_synced_at AS table_synced_at,
       ts_headline('simple', h.primary_value || ' — ' || h.searchable_text, query.q, :opts)
           AS snippet
FROM (
    SELECT c.base_id, c.table_id, c.record_id, c.primary_value, c.searchable_text,
           c.synced_at, ts_rank_cd(c.search_vector, query.q, 32) AS rank
    FROM (SELECT * FROM primary_matches UNION ALL SELECT * FROM other_matches) c, query
    ORDER BY rank DESC, c.record_id
    LIMIT :limit
) h
CROSS JOIN query
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
