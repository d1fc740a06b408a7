"""Exact aggregates over the mirror equal a brute-force computation over every record
fetched from the sandbox with pyairtable."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import httpx
import pytest

from tests.core.accounts.helpers import assert_error
from tests.core.airtable.platform import World, http, platform_core, sync, world

__all__ = ["http", "platform_core", "world"]


def _aggregate(
    http: httpx.Client, world: World, table: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = http.post(world.path(f"/tables/{table}/aggregate"), json=body, headers=world.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _synced_tasks(http: httpx.Client, world: World) -> list[dict[str, Any]]:
    """The Tasks table's records as Airtable has them, after a sync of the mirror."""
    sync(http, world)
    return [r["fields"] for r in world.api.table(world.base_id, "Tasks").all()]


def test_aggregates_equal_brute_force_over_all_records(http: httpx.Client, world: World) -> None:
    # Changes behind the platform's back first: the mirror must have them after a sync.
    deals_api = world.api.table(world.base_id, "Deals")
    deals_api.create({"Deal": "Extra", "Amount": 1234.5, "Stage": "Won"}, typecast=True)
    sync(http, world)
    deals = [r["fields"] for r in deals_api.all()]
    amounts = [d["Amount"] for d in deals if "Amount" in d]
    body = _aggregate(
        http,
        world,
        "Deals",
        {
            "metrics": [
                {"op": "count"},
                {"op": "sum", "field": "Amount"},
                {"op": "avg", "field": "Amount"},
                {"op": "min", "field": "Amount"},
                {"op": "max", "field": "Amount"},
                {"op": "count_distinct", "field": "Stage"},
                {"op": "max", "field": "Close date"},
            ]
        },
    )
    [group] = body["groups"]
    values = group["values"]
    assert values["count"] == len(deals) == body["total_records"]
    assert values["sum(Amount)"] == pytest.approx(sum(amounts))
    assert values["avg(Amount)"] == pytest.approx(sum(amounts) / len(amounts))
    assert values["min(Amount)"] == pytest.approx(min(amounts))
    assert values["max(Amount)"] == pytest.approx(max(amounts))
    assert values["count_distinct(Stage)"] == len({d["Stage"] for d in deals if "Stage" in d})
    assert values["max(Close date)"] == max(d["Close date"] for d in deals if "Close date" in d)
    assert body["freshness"]["source"] == "mirror"


def test_grouped_and_filtered_aggregates_equal_brute_force(
    http: httpx.Client, world: World
) -> None:
    tasks = _synced_tasks(http, world)
    body = _aggregate(
        http,
        world,
        "Tasks",
        {
            "metrics": [{"op": "count"}, {"op": "sum", "field": "Estimate"}],
            "group_by": ["Status", "Priority"],
            "filters": [{"field": "Estimate", "op": "gte", "value": 3600}],
        },
    )
    expected_count: Counter[tuple[Any, Any]] = Counter()
    expected_sum: dict[tuple[Any, Any], float] = defaultdict(float)
    for t in tasks:
        if t.get("Estimate", -1) >= 3600:
            key = (t.get("Status"), t.get("Priority"))
            expected_count[key] += 1
            expected_sum[key] += t["Estimate"]
    got = {(g["key"]["Status"], g["key"]["Priority"]): g["values"] for g in body["groups"]}
    assert set(got) == set(expected_count)
    for key, values in got.items():
        assert values["count"] == expected_count[key]
        assert values["sum(Estimate)"] == pytest.approx(expected_sum[key])
    assert body["total_records"] == sum(expected_count.values())

    # Text equality ignores case; a checkbox filter; a multiple-select contains a value.
    done = _aggregate(
        http, world, "Tasks", {"filters": [{"field": "Status", "op": "eq", "value": "done"}]}
    )
    assert done["total_records"] == sum(1 for t in tasks if t.get("Status") == "Done")
    tagged = _aggregate(
        http, world, "Tasks", {"filters": [{"field": "Tags", "op": "eq", "value": "web"}]}
    )
    assert tagged["total_records"] == sum(1 for t in tasks if "web" in t.get("Tags", []))
    empty = _aggregate(
        http, world, "Tasks", {"filters": [{"field": "Done", "op": "eq", "value": False}]}
    )
    assert empty["total_records"] == sum(1 for t in tasks if not t.get("Done"))


def test_aggregate_bad_input(http: httpx.Client, world: World) -> None:
    not_synced = http.post(world.path("/tables/Deals/aggregate"), json={}, headers=world.headers)
    assert_error(not_synced, 404, "base_not_found")
    sync(http, world)
    field = http.post(
        world.path("/tables/Deals/aggregate"),
        json={"metrics": [{"op": "sum", "field": "Amont"}]},
        headers=world.headers,
    )
    assert "Amount" in assert_error(field, 422, "unknown_field")["detail"]
    text_sum = http.post(
        world.path("/tables/Deals/aggregate"),
        json={"metrics": [{"op": "sum", "field": "Deal"}]},
        headers=world.headers,
    )
    assert "number" in assert_error(text_sum, 422)["detail"]
    three = http.post(
        world.path("/tables/Deals/aggregate"),
        json={"group_by": ["Stage", "Owner", "Deal"]},
        headers=world.headers,
    )
    assert_error(three, 422)


def test_groups_keep_their_json_values_when_one_field_is_grouped_filtered_and_summed(
    http: httpx.Client, world: World
) -> None:
    tasks = _synced_tasks(http, world)
    body = _aggregate(
        http,
        world,
        "Tasks",
        {
            "metrics": [
                {"op": "count"},
                {"op": "sum", "field": "Estimate"},
                {"op": "min", "field": "Estimate"},
            ],
            "group_by": ["Tags", "Estimate"],
            "filters": [{"field": "Estimate", "op": "gte", "value": 3600}],
        },
    )
    expected: Counter[tuple[str, Any]] = Counter()
    for t in tasks:
        if t.get("Estimate", -1) >= 3600:
            expected[(repr(t.get("Tags")), t["Estimate"])] += 1
    got = {(repr(g["key"]["Tags"]), g["key"]["Estimate"]): g["values"] for g in body["groups"]}
    # Keys come back as the values they are: lists of tags, numbers (not their text).
    assert set(got) == set(expected)
    assert any(tags.startswith("[") for tags, _ in got)
    for (_, estimate), values in got.items():
        assert isinstance(estimate, int | float)
        assert values["min(Estimate)"] == pytest.approx(estimate)
    assert sum(v["count"] for v in got.values()) == body["total_records"] == expected.total()
    counts = [g["values"]["count"] for g in body["groups"]]
    assert counts == sorted(counts, reverse=True)
