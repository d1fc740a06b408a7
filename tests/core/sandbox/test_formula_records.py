"""The formula engine over real records: blanks, arrays of linked values (lookups,
rollups) and dates, through filterByFormula and formula fields."""

from __future__ import annotations

from typing import Any

import pytest
from pyairtable import Api

from tests.core.sandbox.conftest import Tenant


@pytest.fixture(scope="module")
def shop(sandbox_url: str, infra: Any) -> dict[str, Any]:
    from tests.core.sandbox.conftest import create_tenant

    tenant: Tenant = create_tenant(infra.app_url)
    api = Api(tenant.token, endpoint_url=sandbox_url, timeout=(5, 30))
    base = api.create_base(
        str(tenant.workspace_id),
        "Shop",
        [
            {
                "name": "Orders",
                "fields": [
                    {"name": "Ref", "type": "singleLineText"},
                    {"name": "Placed", "type": "date"},
                    {"name": "Shipped", "type": "dateTime"},
                ],
            },
            {
                "name": "Items",
                "fields": [
                    {"name": "Item", "type": "singleLineText"},
                    {"name": "Price", "type": "number", "options": {"precision": 2}},
                ],
            },
        ],
    )
    schema = base.schema()
    orders, items = base.table("Orders"), base.table("Items")
    link = orders.create_field(
        "Lines", "multipleRecordLinks", options={"linkedTableId": schema.table("Items").id}
    )
    price_id = schema.table("Items").field("Price").id
    name_id = schema.table("Items").field("Item").id
    meta = f"meta/bases/{base.id}/tables/Orders/fields"
    for spec in (
        {
            "name": "Prices",
            "type": "multipleLookupValues",
            "options": {"recordLinkFieldId": link.id, "fieldIdInLinkedTable": price_id},
        },
        {
            "name": "Names",
            "type": "multipleLookupValues",
            "options": {"recordLinkFieldId": link.id, "fieldIdInLinkedTable": name_id},
        },
        {
            "name": "Total",
            "type": "rollup",
            "options": {
                "recordLinkFieldId": link.id,
                "fieldIdInLinkedTable": price_id,
                "formula": "SUM(values)",
            },
        },
        {
            "name": "Lead days",
            "type": "formula",
            "options": {"formula": "DATETIME_DIFF({Shipped}, {Placed}, 'days')"},
        },
        {
            "name": "Label",
            "type": "formula",
            "options": {"formula": "{Ref} & ': ' & ARRAYJOIN({Names}, '+')"},
        },
    ):
        api.post(api.build_url(meta), json=spec)
    pen, ink, pad = items.batch_create(
        [{"Item": "pen", "Price": 2.5}, {"Item": "ink", "Price": 10}, {"Item": "pad", "Price": 4}]
    )
    orders.batch_create(
        [
            {
                "Ref": "A",
                "Placed": "2026-01-10",
                "Shipped": "2026-01-13T09:00:00.000Z",
                "Lines": [pen["id"], ink["id"]],
            },
            {"Ref": "B", "Placed": "2026-02-01", "Lines": [pad["id"]]},
            {"Ref": "C"},
        ]
    )
    return {"api": api, "orders": orders}


def test_lookups_rollups_and_formula_fields_are_computed(shop: dict[str, Any]) -> None:
    records = {r["fields"]["Ref"]: r["fields"] for r in shop["orders"].all()}
    assert records["A"]["Prices"] == [2.5, 10]
    assert records["A"]["Total"] == 12.5
    assert records["A"]["Lead days"] == 3
    assert records["A"]["Label"] == "A: pen+ink"
    assert records["C"]["Label"] == "C: "
    assert "Prices" not in records["C"]  # an empty lookup is omitted like any empty field
    assert records["C"]["Total"] == 0


@pytest.mark.parametrize(
    ("formula", "refs"),
    [
        ("{Total} > 5", ["A"]),
        ("FIND('ink', ARRAYJOIN({Names}))", ["A"]),
        ("{Names} = 'pad'", ["B"]),
        ("{Prices} = BLANK()", ["C"]),
        ("NOT({Lines})", ["C"]),
        ("IS_BEFORE({Placed}, '2026-01-31')", ["A"]),
        ("IS_AFTER({Placed}, DATEADD('2026-01-10', 1, 'days'))", ["B"]),
        ("DATETIME_FORMAT({Placed}, 'YYYY-MM') = '2026-02'", ["B"]),
        ("AND({Shipped}, {Lead days} >= 3)", ["A"]),
        ("{Placed} = BLANK()", ["C"]),
        ("OR({Ref} = 'A', {Ref} = 'C')", ["A", "C"]),
        ("REGEX_MATCH({Label}, '^[AB]: p')", ["A", "B"]),
        ("LEN(ARRAYJOIN({Names}, '')) = 6", ["A"]),
        ("SWITCH({Ref}, 'B', 1, 0)", ["B"]),
        ("RECORD_ID() != ''", ["A", "B", "C"]),
    ],
)
def test_filter_by_formula_table(shop: dict[str, Any], formula: str, refs: list[str]) -> None:
    found = shop["orders"].all(formula=formula)
    assert sorted(r["fields"]["Ref"] for r in found) == refs
