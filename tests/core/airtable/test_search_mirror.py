"""``GET /api/v1/search`` over the mirror: typos, lookup and linked values, highlights,
record links and freshness."""

from __future__ import annotations

import httpx

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
