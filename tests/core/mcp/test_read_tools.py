"""Discovery, read and analysis tools through the official client over streamable HTTP, on
the sandbox demo base "Product Launch"."""

from __future__ import annotations

import psycopg

from pyairtable_platform.devinfra.throwaway import Infra
from tests.core.mcp.conftest import (
    Sandbox,
    Servers,
    Tenant,
    error_text,
    make_tenant,
    mcp_client,
    payload,
)


async def test_list_bases_shows_the_workspaces_demo_base(servers: Servers, tenant: Tenant) -> None:
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        answer = payload(await mcp.call_tool("list_bases", {}))
        assert [b["id"] for b in answer["bases"]] == [tenant.base_id]
        assert answer["bases"][0]["name"] == "Product Launch"


async def test_list_bases_writes_a_name_changed_in_airtable_through_to_the_mirror(
    servers: Servers, infra: Infra
) -> None:
    mine = await make_tenant(servers.core.url, infra.app_url)
    database = infra.superuser_url.rsplit("/", 1)[0] + "/" + infra.database
    query = "SELECT name FROM airtable_bases WHERE workspace_id = %s"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "UPDATE airtable_bases SET name = 'Stale name' WHERE workspace_id = %s",
            (mine.workspace_id,),
        )
    async with mcp_client(servers.core.url + "/mcp", mine.write_key) as mcp:
        before = payload(await mcp.call_tool("list_tables", {"base_id": mine.base_id}))
        bases = payload(await mcp.call_tool("list_bases", {}))
        after = payload(await mcp.call_tool("list_tables", {"base_id": mine.base_id}))
    assert before["base_name"] == "Stale name"  # list_tables names the base as mirrored
    assert [b["name"] for b in bases["bases"]] == ["Product Launch"]
    assert after["base_name"] == "Product Launch"
    with psycopg.connect(database) as conn:
        assert conn.execute(query, (mine.workspace_id,)).fetchall() == [("Product Launch",)]


async def test_another_workspaces_base_is_invisible(
    servers: Servers, tenant: Tenant, other_tenant: Tenant
) -> None:
    async with mcp_client(servers.core.url + "/mcp", other_tenant.read_key) as client:
        bases = payload(await client.call_tool("list_bases", {}))
        assert tenant.base_id not in [b["id"] for b in bases["bases"]]
        message = error_text(
            await client.call_tool("list_records", {"base_id": tenant.base_id, "table": "Tasks"})
        )
    assert "not_found" in message


async def test_list_tables_has_three_detail_levels(servers: Servers, tenant: Tenant) -> None:
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        ids = payload(
            await mcp.call_tool("list_tables", {"base_id": tenant.base_id, "detail": "ids"})
        )
        names = payload(await mcp.call_tool("list_tables", {"base_id": tenant.base_id}))
        full = payload(
            await mcp.call_tool("list_tables", {"base_id": tenant.base_id, "detail": "full"})
        )
        assert {t["name"] for t in ids["tables"]} == {
            "Team",
            "Customers",
            "Deals",
            "Tasks",
            "Feedback",
        }
        assert set(ids["tables"][0]) == {"id", "name"}
        tasks = next(t for t in names["tables"] if t["name"] == "Tasks")
        assert "Status" in tasks["fields"]
        assert tasks["primary_field"] == "Task"
        tasks_full = next(t for t in full["tables"] if t["name"] == "Tasks")
        status = next(f for f in tasks_full["fields"] if f["name"] == "Status")
        assert status["choices"] == ["Todo", "In progress", "Blocked", "Done"]


async def test_describe_table_gives_types_choices_links_and_formulas(
    servers: Servers, tenant: Tenant
) -> None:
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        answer = payload(
            await mcp.call_tool("describe_table", {"base_id": tenant.base_id, "table": "Deals"})
        )
        fields = {f["name"]: f for f in answer["fields"]}
        assert fields["Stage"]["choices"] == ["Lead", "Qualified", "Proposal", "Won", "Lost"]
        assert fields["Customer"]["type"] == "multipleRecordLinks"
        assert fields["Customer"]["options"]["linkedTableId"]
        assert fields["Expected revenue"]["type"] == "formula"
        assert answer["primary_field"] == "Deal"
        assert answer["field_types"]["multipleRecordLinks"] >= 2


async def test_unknown_table_and_field_errors_list_the_valid_names(
    servers: Servers, tenant: Tenant
) -> None:
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        message = error_text(
            await mcp.call_tool("describe_table", {"base_id": tenant.base_id, "table": "Taks"})
        )
        assert "Tasks" in message
        assert "Deals" in message
        message = error_text(
            await mcp.call_tool(
                "list_records", {"base_id": tenant.base_id, "table": "Tasks", "fields": ["Stauts"]}
            )
        )
        assert "Stauts" in message
        assert "Status" in message


async def test_list_records_filters_sorts_projects_and_reports_total_and_truncation(
    servers: Servers, tenant: Tenant
) -> None:
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        answer = payload(
            await mcp.call_tool(
                "list_records",
                {
                    "base_id": tenant.base_id,
                    "table": "Deals",
                    "formula": "{Stage}='Won'",
                    "sort": ["-Amount"],
                    "fields": ["Deal", "Amount", "Stage"],
                    "page_size": 5,
                },
            )
        )
        assert 0 < answer["count"] <= 5
        amounts = [r["fields"].get("Amount", 0) for r in answer["records"]]
        assert amounts == sorted(amounts, reverse=True)
        assert all(set(r["fields"]) <= {"Deal", "Amount", "Stage"} for r in answer["records"])
        everything = payload(
            await mcp.call_tool(
                "list_records", {"base_id": tenant.base_id, "table": "Tasks", "page_size": 10}
            )
        )
        assert everything["total"] == 240
        assert everything["truncated"] is True
        assert everything["next_cursor"]
        assert everything["freshness"]["source"]
        more = payload(
            await mcp.call_tool(
                "list_records",
                {
                    "base_id": tenant.base_id,
                    "table": "Tasks",
                    "page_size": 10,
                    "cursor": everything["next_cursor"],
                },
            )
        )
        assert not {r["id"] for r in more["records"]} & {r["id"] for r in everything["records"]}


async def test_a_bad_formula_is_a_tool_error_with_the_reason(
    servers: Servers, tenant: Tenant
) -> None:
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        message = error_text(
            await mcp.call_tool(
                "list_records",
                {"base_id": tenant.base_id, "table": "Tasks", "formula": "{Status} = = 'x'"},
            )
        )
        assert "formula" in message.lower()


async def test_get_record_expands_linked_records(
    servers: Servers, tenant: Tenant, sandbox: Sandbox
) -> None:
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        deals = await sandbox.records("Deals")
        deal_id, fields = next((k, v) for k, v in deals.items() if v.get("Customer"))
        plain = payload(
            await mcp.call_tool(
                "get_record", {"base_id": tenant.base_id, "table": "Deals", "record_id": deal_id}
            )
        )
        assert plain["fields"]["Customer"] == fields["Customer"]
        expanded = payload(
            await mcp.call_tool(
                "get_record",
                {
                    "base_id": tenant.base_id,
                    "table": "Deals",
                    "record_id": deal_id,
                    "expand_links": True,
                },
            )
        )
        customer = expanded["fields"]["Customer"][0]
        assert customer["id"] == fields["Customer"][0]
        assert customer["name"]


async def test_search_records_finds_text_with_a_typo_and_in_chosen_fields(
    servers: Servers, tenant: Tenant, sandbox: Sandbox
) -> None:
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        customers = await sandbox.records("Customers")
        company = next(iter(customers.values()))["Company"]
        word = max(company.split(), key=len)
        exact = payload(
            await mcp.call_tool("search_records", {"query": word, "base_id": tenant.base_id})
        )
        assert exact["hits"]
        assert exact["freshness"]
        typo = word[:-1] + ("x" if word[-1] != "x" else "y")
        fuzzy = payload(
            await mcp.call_tool("search_records", {"query": typo, "base_id": tenant.base_id})
        )
        assert fuzzy["hits"]
        chosen = payload(
            await mcp.call_tool(
                "search_records",
                {
                    "query": word.lower(),
                    "base_id": tenant.base_id,
                    "table": "Customers",
                    "fields": ["Company"],
                },
            )
        )
        assert chosen["records"]
        assert all(word.lower() in r["fields"]["Company"].lower() for r in chosen["records"])


async def test_aggregate_records_is_exact_over_the_whole_table(
    servers: Servers, tenant: Tenant, sandbox: Sandbox
) -> None:
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        deals = await sandbox.records("Deals")
        answer = payload(
            await mcp.call_tool(
                "aggregate_records",
                {
                    "base_id": tenant.base_id,
                    "table": "Deals",
                    "metrics": [{"op": "count"}, {"op": "sum", "field": "Amount"}],
                    "group_by": ["Stage"],
                },
            )
        )
        won = next(g for g in answer["groups"] if g["key"]["Stage"] == "Won")
        expected = [d for d in deals.values() if d.get("Stage") == "Won"]
        assert won["values"]["count"] == len(expected)
        assert round(
            float(
                won["values"]["sum_Amount"]
                if "sum_Amount" in won["values"]
                else list(won["values"].values())[1]
            ),
            2,
        ) == round(sum(d.get("Amount", 0) for d in expected), 2)


async def test_analyze_find_duplicates_and_export(
    servers: Servers, tenant: Tenant, sandbox: Sandbox
) -> None:
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        analysis = payload(
            await mcp.call_tool("analyze_table_data", {"base_id": tenant.base_id, "table": "Tasks"})
        )
        assert analysis["analysed_records"] == 240
        assert 0 < analysis["fields"]["Status"]["fill_rate"] <= 1
        assert analysis["insights"]
        dupes = payload(
            await mcp.call_tool(
                "find_duplicates",
                {"base_id": tenant.base_id, "table": "Tasks", "fields": ["Status"]},
            )
        )
        tasks = await sandbox.records("Tasks")
        statuses = {t.get("Status") for t in tasks.values() if t.get("Status")}
        assert dupes["duplicate_groups"] == len(statuses)
        assert dupes["duplicate_records"] == sum(1 for t in tasks.values() if t.get("Status"))
        export = payload(
            await mcp.call_tool(
                "export_table_csv",
                {"base_id": tenant.base_id, "table": "Team", "fields": ["Name", "Email"]},
            )
        )
        assert export["rows"] == 20
        assert export["file_id"]
        assert export["preview"].splitlines()[0] == "Record ID,Name,Email,Created Time"
