"""``GET /api/v1/search`` over the mirror: typos, lookup and linked values, highlights,
record links and freshness."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import psycopg
from sqlalchemy import text

from pyairtable_platform.core.mirror import search as msearch
from pyairtable_platform.devinfra.throwaway import Infra
from pyairtable_platform.kit.db import create_engine, create_session_factory, unit_of_work
from tests.core.accounts.helpers import assert_error
from tests.core.airtable.platform import World, http, platform_core, sync, world

__all__ = ["http", "platform_core", "world"]


def _search(http: httpx.Client, world: World, q: str, **params: str) -> dict:  # type: ignore[type-arg]
    response = http.get("/api/v1/search", params={"q": q, **params}, headers=world.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_search_finds_lookup_and_linked_values_and_typos(http: httpx.Client, world: World) -> None:
    customers = world.api.table(world.base_id, "Customers")
    customer = customers.create({"Company": "Quokkaworks", "Industry": "Zymurgy"}, typecast=True)
    deal = world.api.table(world.base_id, "Deals").create(
        {"Deal": "Barrel order", "Customer": [customer["id"]]}
    )
    sync(http, world)

    # A value only the lookup field "Customer industry" of the deal holds (case-insensitive).
    body = _search(http, world, "ZYMURGY", base=world.base_id, table="Deals")
    assert [h["record_id"] for h in body["hits"]] == [deal["id"]]
    hit = body["hits"][0]
    assert hit["match"] == "fulltext"
    assert "<mark>Zymurgy</mark>" in hit["snippet"]
    assert hit["table_name"] == "Deals"
    assert hit["synced_at"]
    assert hit["link"].endswith(f"/{world.base_id}/{hit['table_id']}/{deal['id']}")
    assert hit["api_path"] == (
        f"/api/v1/airtable/bases/{world.base_id}/tables/{hit['table_id']}/records/{deal['id']}"
    )
    assert body["freshness"]["source"] == "mirror"
    assert body["freshness"]["age_seconds"] >= 0

    # The linked customer's name is searchable on the deal.
    linked = _search(http, world, "quokkaworks", base=world.base_id)
    assert {h["record_id"] for h in linked["hits"]} >= {customer["id"], deal["id"]}
    # The primary field ranks first.
    assert linked["hits"][0]["record_id"] == customer["id"]

    # A misspelled word: no full-text hit, the trigram pass finds it.
    typo = _search(http, world, "Quokaworks", base=world.base_id)
    assert typo["hits"]
    assert typo["hits"][0]["match"] == "fuzzy"
    assert customer["id"] in {h["record_id"] for h in typo["hits"]}
    assert "<mark>Quokkaworks</mark>" in typo["hits"][0]["snippet"]


def test_search_sees_the_platforms_writes_without_a_sync(http: httpx.Client, world: World) -> None:
    sync(http, world)
    created = http.post(
        world.path("/tables/Customers/records"),
        json={"records": [{"fields": {"Company": "Xylophonics"}}]},
        headers=world.headers,
    )
    assert created.status_code == 201, created.text
    body = _search(http, world, "xylophonics")
    assert [h["title"] for h in body["hits"]] == ["Xylophonics"]


def test_search_filters_and_bad_input(http: httpx.Client, world: World) -> None:
    sync(http, world)
    assert_error(http.get("/api/v1/search", headers=world.headers), 422)
    missing = http.get(
        "/api/v1/search", params={"q": "x", "base": "appNOPE0000000000"}, headers=world.headers
    )
    assert "Product Launch" in assert_error(missing, 404, "base_not_found")["detail"]
    table = http.get(
        "/api/v1/search",
        params={"q": "x", "base": world.base_id, "table": "Dealz"},
        headers=world.headers,
    )
    assert "Deals" in assert_error(table, 404, "table_not_found")["detail"]
    only_tasks = _search(http, world, "launch", base=world.base_id, table="Tasks")
    assert only_tasks["hits"]
    assert {h["table_name"] for h in only_tasks["hits"]} == {"Tasks"}


def _add_common_word_records(infra: Infra, world: World, count: int) -> str:
    """``count`` records of the Feedback table that all mention "gizmo" (newest last), and
    the three oldest of them titled with it; returns the table id."""
    db = infra.superuser_url.rsplit("/", 1)[0] + "/pap_test"
    with psycopg.connect(db, autocommit=True) as conn:
        row = conn.execute(
            "SELECT table_id FROM airtable_tables WHERE workspace_id = %s AND base_id = %s"
            " AND name = 'Feedback'",
            (world.account.workspace_id, world.base_id),
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO airtable_records (workspace_id, base_id, table_id, record_id, fields,"
            " primary_value, searchable_text, last_modified_time)"
            " SELECT %(w)s, %(b)s, %(t)s, 'recGIZMO' || lpad(g::text, 9, '0'), '{}',"
            " CASE WHEN g <= 3 THEN 'Gizmo recall ' || g ELSE 'Ticket ' || g END,"
            " 'customer wrote about the gizmo, case ' || g,"
            " now() - make_interval(secs => %(n)s - g)"
            " FROM generate_series(1, %(n)s) AS g",
            {"w": world.account.workspace_id, "b": world.base_id, "t": row[0], "n": count},
        )
        # Fresh statistics, as autovacuum would soon have them: the plans then do not depend
        # on which tests ran before.
        conn.execute("ANALYZE airtable_records")
    return str(row[0])


def test_a_word_in_most_records_still_ranks_title_matches_first(
    http: httpx.Client, world: World, infra: Infra
) -> None:
    sync(http, world)
    _add_common_word_records(infra, world, 3000)

    # Every record mentions "gizmo"; the three whose title holds it are the oldest, far
    # beyond the newest records a common word's candidates are read from.
    body = _search(http, world, "gizmo", base=world.base_id, limit="5")
    titles = [h["title"] for h in body["hits"]]
    assert sorted(titles[:3]) == ["Gizmo recall 1", "Gizmo recall 2", "Gizmo recall 3"]
    assert len(titles) == 5
    ranks = [h["rank"] for h in body["hits"]]
    assert ranks == sorted(ranks, reverse=True)
    assert ranks[2] > ranks[3]
    assert all("<mark>gizmo</mark>" in h["snippet"].lower() for h in body["hits"])

    # A word in nearly every title: ranked title matches, newest first among equals.
    tickets = _search(http, world, "ticket", base=world.base_id, limit="5")
    assert [h["match"] for h in tickets["hits"]] == ["fulltext"] * 5
    assert all(h["title"].startswith("Ticket ") for h in tickets["hits"])

    # Only a negation: the records without the word, whichever way they are collected.
    negated = _search(http, world, "-gizmo", base=world.base_id)
    assert negated["hits"]
    assert all("gizmo" not in (h["title"] + h["snippet"]).lower() for h in negated["hits"])


def _plan(infra: Infra, world: World, q: str) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the search as the service runs it, under the workspace's RLS."""

    async def run() -> dict[str, Any]:
        engine = create_engine(infra.app_url, pool_size=1)
        try:
            factory = create_session_factory(engine)
            async with unit_of_work(
                factory, user_id=world.account.user_id, workspace_id=world.account.workspace_id
            ) as session:
                params = {
                    "q": q,
                    "opts": msearch.HEADLINE_OPTIONS,
                    "limit": 20,
                    "candidates": msearch.RANK_CANDIDATES,
                    "base_id": world.base_id,
                    "table_id": None,
                }
                explain = "EXPLAIN (ANALYZE, FORMAT JSON) " + msearch.FULLTEXT_SQL
                value = (await session.execute(text(explain), params)).scalar_one()
        finally:
            await engine.dispose()
        plan = value if isinstance(value, list) else json.loads(value)
        return plan[0]["Plan"]  # type: ignore[no-any-return]

    return asyncio.run(run())


def _index_loops(plan: dict[str, Any], index: str) -> list[int]:
    """How many times each scan of ``index`` in the plan ran (0: never)."""
    found = [plan["Actual Loops"]] if plan.get("Index Name") == index else []
    for child in plan.get("Plans", []):
        found += _index_loops(child, index)
    return found


def test_a_common_word_is_not_collected_through_the_whole_gin_bitmap(
    http: httpx.Client, world: World, infra: Infra
) -> None:
    sync(http, world)
    _add_common_word_records(infra, world, 3000)
    # A common word: its candidates are read from the newest records, the GIN bitmap of all
    # its matches is never built (the planner may leave the index out of the plan, or keep it
    # in the branch that does not run).
    assert sum(_index_loops(_plan(infra, world, "gizmo"), "ix_airtable_records_search_vector")) == 0
    # A rare word: the GIN index is what finds it.
    primary = _index_loops(_plan(infra, world, "recall"), "ix_airtable_records_primary_vector")
    assert sum(primary) >= 1
    rare = _plan(infra, world, "zymurgy")
    assert sum(_index_loops(rare, "ix_airtable_records_search_vector")) >= 1
