"""The sandbox driven through the public pyairtable client, as any Airtable client would."""

from __future__ import annotations

import asyncio
import re

import pytest
import requests
from pyairtable import Api
from pyairtable.formulas import AND, EQ, GT, Field, match

from pyairtable_platform.core.sandbox.seed import generate_base
from pyairtable_platform.kit.db import create_engine, create_session_factory, unit_of_work
from tests.conftest import Infra
from tests.core.sandbox.conftest import Tenant, people_projects_base

RECORD_ID = re.compile(r"^rec[A-Za-z0-9]{14}$")
CREATED_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def base_id(api: Api, tenant: Tenant) -> str:
    return people_projects_base(api, tenant)


def test_whoami_and_bases_list_the_tokens_own_workspace(api: Api, base_id: str) -> None:
    me = api.whoami()
    assert re.match(r"^usr[A-Za-z0-9]{14}$", me["id"])
    bases = api.bases()
    assert [b.id for b in bases] == [base_id]
    assert bases[0].name == "Conformance"


def test_base_schema_has_tables_fields_options_views_and_both_link_sides(
    api: Api, base_id: str
) -> None:
    schema = api.base(base_id).schema()
    people, projects = schema.table("People"), schema.table("Projects")
    assert re.match(r"^tbl[A-Za-z0-9]{14}$", people.id)
    assert people.primary_field_id == people.field("Name").id
    assert people.field("Team").options.choices[1].name == "Blue"  # type: ignore[union-attr]
    assert people.views[0].name == "Grid view"
    assert re.match(r"^viw[A-Za-z0-9]{14}$", people.views[0].id)
    members = projects.field("Members")
    inverse = people.field("Projects")
    assert members.type == "multipleRecordLinks"
    assert members.options.linked_table_id == people.id  # type: ignore[union-attr]
    assert members.options.inverse_link_field_id == inverse.id  # type: ignore[union-attr]
    assert inverse.options.inverse_link_field_id == members.id  # type: ignore[union-attr]


def test_create_get_update_replace_and_delete_one_record(api: Api, base_id: str) -> None:
    people = api.table(base_id, "People")
    created = people.create({"Name": "Ada", "Age": 36, "Active": True, "Skills": ["python"]})
    assert RECORD_ID.match(created["id"])
    assert CREATED_TIME.match(created["createdTime"])
    assert created["fields"] == {"Name": "Ada", "Age": 36, "Active": True, "Skills": ["python"]}

    assert people.get(created["id"])["fields"]["Age"] == 36
    merged = people.update(created["id"], {"Age": 37})
    assert merged["fields"] == {"Name": "Ada", "Age": 37, "Active": True, "Skills": ["python"]}
    replaced = people.update(created["id"], {"Name": "Ada L."}, replace=True)
    assert replaced["fields"] == {"Name": "Ada L."}  # PUT cleared the rest, empty is omitted

    assert people.delete(created["id"]) == {"id": created["id"], "deleted": True}
    with pytest.raises(requests.HTTPError) as info:
        people.get(created["id"])
    assert info.value.response.status_code == 404
    assert info.value.response.json() == {"error": "NOT_FOUND"}


def test_batches_of_more_than_ten_are_split_by_the_client_and_all_apply(
    api: Api, base_id: str
) -> None:
    people = api.table(base_id, "People")
    created = people.batch_create([{"Name": f"P{i:02d}", "Age": i} for i in range(25)])
    assert [r["fields"]["Name"] for r in created] == [f"P{i:02d}" for i in range(25)]
    updated = people.batch_update([{"id": r["id"], "fields": {"Age": 100}} for r in created])
    assert {r["fields"]["Age"] for r in updated} == {100}
    deleted = people.batch_delete([r["id"] for r in created[:12]])
    assert all(d["deleted"] for d in deleted)
    assert len(people.all()) == 13


def test_upsert_creates_and_updates_on_merge_fields(api: Api, base_id: str) -> None:
    people = api.table(base_id, "People")
    ada = people.create({"Name": "Ada", "Age": 36})
    result = people.batch_upsert(
        [{"fields": {"Name": "Ada", "Age": 40}}, {"fields": {"Name": "Grace", "Age": 85}}],
        key_fields=["Name"],
    )
    assert result["updatedRecords"] == [ada["id"]]
    assert len(result["createdRecords"]) == 1
    assert {r["fields"]["Name"]: r["fields"]["Age"] for r in result["records"]} == {
        "Ada": 40,
        "Grace": 85,
    }
    assert len(people.all()) == 2


def test_typecast_converts_text_and_adds_select_options(api: Api, base_id: str) -> None:
    people = api.table(base_id, "People")
    record = people.create(
        {"Name": "Bo", "Age": "42", "Team": "Green", "Active": "yes"}, typecast=True
    )
    assert record["fields"]["Age"] == 42
    assert record["fields"]["Team"] == "Green"
    assert record["fields"]["Active"] is True
    choices = api.base(base_id).schema(force=True).table("People").field("Team").options.choices  # type: ignore[union-attr]
    assert [c.name for c in choices] == ["Red", "Blue", "Green"]


def test_links_are_symmetric_both_ways_and_follow_deletes(api: Api, base_id: str) -> None:
    people = api.table(base_id, "People")
    projects = api.table(base_id, "Projects")
    ada, grace = people.batch_create([{"Name": "Ada"}, {"Name": "Grace"}])
    launch = projects.create({"Title": "Launch", "Members": [ada["id"], grace["id"]]})
    assert people.get(ada["id"])["fields"]["Projects"] == [launch["id"]]

    projects.update(launch["id"], {"Members": [grace["id"]]})
    assert "Projects" not in people.get(ada["id"])["fields"]
    assert people.get(grace["id"])["fields"]["Projects"] == [launch["id"]]

    people.update(ada["id"], {"Projects": [launch["id"]]})
    assert set(projects.get(launch["id"])["fields"]["Members"]) == {ada["id"], grace["id"]}

    people.delete(grace["id"])
    assert projects.get(launch["id"])["fields"]["Members"] == [ada["id"]]


def test_list_options_fields_sort_max_records_formula_and_field_ids(api: Api, base_id: str) -> None:
    people = api.table(base_id, "People")
    people.batch_create(
        [
            {"Name": "Ada", "Age": 36, "Team": "Red"},
            {"Name": "Bob", "Age": 25, "Team": "Blue"},
            {"Name": "Cy", "Age": 52, "Team": "Red"},
            {"Name": "Di"},
        ]
    )
    by_age = people.all(sort=["-Age"], fields=["Name", "Age"])
    assert [r["fields"].get("Name") for r in by_age] == ["Cy", "Ada", "Bob", "Di"]
    assert all(set(r["fields"]) <= {"Name", "Age"} for r in by_age)
    assert len(people.all(max_records=3, page_size=2)) == 3

    red_over_30 = people.all(formula=AND(EQ(Field("Team"), "Red"), GT(Field("Age"), 30)))
    assert sorted(r["fields"]["Name"] for r in red_over_30) == ["Ada", "Cy"]
    assert [r["fields"]["Name"] for r in people.all(formula=match({"Name": "Bob"}))] == ["Bob"]
    first = people.first(formula="{Age} > 50")
    assert first is not None
    assert first["fields"]["Name"] == "Cy"

    name_id = api.base(base_id).schema().table("People").field("Name").id
    keyed = people.all(use_field_ids=True, max_records=1)
    assert name_id in keyed[0]["fields"]


def test_a_formula_too_long_for_a_url_goes_through_post_list_records(
    api: Api, base_id: str
) -> None:
    people = api.table(base_id, "People")
    people.batch_create([{"Name": f"N{i}"} for i in range(5)])
    long_formula = "OR(" + ",".join(f"{{Name}}='N{i % 3}'" for i in range(1500)) + ")"
    assert len(long_formula) > 16_000
    found = people.all(formula=long_formula)
    assert sorted(r["fields"]["Name"] for r in found) == ["N0", "N1", "N2"]


def test_comment_count_and_comments_list_create_update_delete(api: Api, base_id: str) -> None:
    people = api.table(base_id, "People")
    ada = people.create({"Name": "Ada"})
    first = people.add_comment(ada["id"], "First!")
    people.add_comment(ada["id"], "Second")
    assert re.match(r"^com[A-Za-z0-9]{14}$", first.id)
    texts = [c.text for c in people.comments(ada["id"])]
    assert texts == ["Second", "First!"]
    assert people.all(count_comments=True)[0]["commentCount"] == 2

    first.text = "Edited"
    first.save()
    assert first.last_updated_time is not None
    first.delete()
    assert [c.text for c in people.comments(ada["id"])] == ["Second"]


def test_create_table_update_table_create_field_and_rename_field(api: Api, base_id: str) -> None:
    base = api.base(base_id)
    tasks = base.create_table(
        "Tasks",
        [{"name": "Task", "type": "singleLineText"}, {"name": "Due", "type": "date"}],
        description="Work items",
    )
    assert tasks.schema().description == "Work items"
    field = tasks.create_field("Points", "number", options={"precision": 1})
    assert field.type == "number"
    assert tasks.create({"Task": "Write", "Points": 2.5})["fields"]["Points"] == 2.5

    field.name = "Story points"
    field.save()
    table_schema = base.schema(force=True).table("Tasks")
    assert table_schema.field(field.id).name == "Story points"
    table_schema.name = "Work"
    table_schema.save()
    assert [t.name for t in base.schema(force=True).tables] == ["People", "Projects", "Work"]


def test_attachments_by_url_get_ids_and_filenames(api: Api, base_id: str) -> None:
    people = api.table(base_id, "People")
    record = people.create({"Name": "Pic", "Photo": [{"url": "https://example.com/a/cat.png"}]})
    photo = record["fields"]["Photo"][0]
    assert re.match(r"^att[A-Za-z0-9]{14}$", photo["id"])
    assert photo["filename"] == "cat.png"
    assert photo["type"] == "image/png"
    kept = people.update(record["id"], {"Photo": [{"id": photo["id"], "url": photo["url"]}]})
    assert kept["fields"]["Photo"][0]["id"] == photo["id"]


@pytest.fixture
def big_base(infra: Infra, tenant: Tenant) -> str:
    async def make() -> str:
        engine = create_engine(infra.app_url, pool_size=1)
        try:
            factory = create_session_factory(engine)
            async with unit_of_work(factory, workspace_id=tenant.workspace_id) as session:
                return await generate_base(session, tenant.workspace_id, records=1234)
        finally:
            await engine.dispose()

    return asyncio.run(make())


def test_paging_walks_more_than_a_thousand_records_in_order(api: Api, big_base: str) -> None:
    items = api.table(big_base, "Items")
    pages = list(items.iterate(page_size=100))
    assert [len(p) for p in pages] == [100] * 12 + [34]
    numbers = [r["fields"]["Number"] for page in pages for r in page]
    assert numbers == list(range(1, 1235))
    assert len({r["id"] for page in pages for r in page}) == 1234
    assert len(items.all(max_records=250)) == 250
    sorted_desc = items.all(sort=["-Number"], formula="{Category} = 'B'")
    assert [r["fields"]["Number"] for r in sorted_desc][:3] == [1234, 1230, 1226]
    assert len(sorted_desc) == 309


def test_rate_limit_answers_429_in_airtables_shape_and_pyairtable_retry_succeeds(
    limited_url: str, tenant: Tenant
) -> None:
    api = Api(tenant.token, endpoint_url=limited_url, timeout=(5, 30))
    base_id = people_projects_base(api, tenant, name="Limited")
    url = f"{limited_url}/v0/{base_id}/People"
    headers = {"Authorization": f"Bearer {tenant.token}"}
    with requests.Session() as raw:
        statuses = [raw.get(url, headers=headers).status_code for _ in range(12)]
        assert 429 in statuses
        limited = next(
            r for r in (raw.get(url, headers=headers) for _ in range(10)) if r.status_code == 429
        )
    assert limited.json() == {
        "errors": [
            {
                "error": "RATE_LIMIT_REACHED",
                "message": "Rate limit exceeded. Please try again later",
            }
        ]
    }
    people = api.table(base_id, "People")
    created = people.batch_create([{"Name": f"R{i}"} for i in range(60)])  # 6 requests
    records = [people.get(r["id"]) for r in created[:12]]  # far over 5/s: retried on 429
    assert [r["fields"]["Name"] for r in records] == [f"R{i}" for i in range(12)]
