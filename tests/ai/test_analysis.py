"""Table analysis end to end: the ai service as a real HTTP server, the scripted
OpenAI-compatible fake provider, and core's real MCP tools on the sandbox demo base."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import orjson

from pyairtable_platform.devinfra.throwaway import Infra
from tests.ai.conftest import FakeProvider, auth, owner_rows
from tests.ai.fakes.script import Step, ToolCall, call, error
from tests.core.mcp.conftest import Sandbox, Tenant
from tests.support.servers import ThreadServer

TABLE = "Team"
REPORT = {
    "summary": "Team is small and mostly complete; Email has gaps and two names repeat.",
    "findings": [
        {
            "severity": "medium",
            "category": "data_quality",
            "title": "Email is not always filled",
            "detail": "analyze_table_data: Email filled in 80 % of records",
            "fields": ["Email"],
        },
        {
            "severity": "info",
            "category": "structure",
            "title": "No field descriptions",
            "detail": "describe_table shows no descriptions",
        },
    ],
    "suggestions": ["Make Email required in the form", "Add field descriptions"],
}


def script(tenant: Tenant, *, input_tokens: int = 1000) -> list[Step]:
    return [
        call(
            ToolCall("analyze_table_data", {"base_id": tenant.base_id, "table": TABLE}),
            input_tokens=input_tokens,
            output_tokens=50,
        ),
        call(
            ToolCall(
                "find_duplicates", {"base_id": tenant.base_id, "table": TABLE, "fields": ["Name"]}
            ),
            input_tokens=2000,
            output_tokens=40,
            cached_tokens=1000,
        ),
        call(ToolCall("final_result", REPORT), input_tokens=3000, output_tokens=300),
    ]


def offered_tools(body: dict[str, Any]) -> set[str]:
    return {t["function"]["name"] for t in body.get("tools", [])}


async def test_an_analysis_reviews_the_table_with_mcp_tools_and_stores_the_report(
    client: httpx.AsyncClient, fake_provider: FakeProvider, tenant: Tenant, infra: Infra
) -> None:
    fake_provider.play(*script(tenant))
    response = await client.post(
        "/api/v1/analysis",
        json={"base_id": tenant.base_id, "table": TABLE},
        headers=auth(tenant),
    )
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["status"] == "done"
    assert report["summary"] == REPORT["summary"]
    assert [(f["severity"], f["title"]) for f in report["findings"]] == [
        ("medium", "Email is not always filled"),
        ("info", "No field descriptions"),
    ]
    assert report["suggestions"] == REPORT["suggestions"]
    assert report["write_back"] is None
    assert report["error"] is None
    # The schema is read first without the model; then the model's two tool calls.
    tools = report["tools_used"]
    assert [t["name"] for t in tools] == ["describe_table", "analyze_table_data", "find_duplicates"]
    assert all(t["size"] and t["size"] > 0 and t["error"] is None for t in tools), tools

    # The model got the schema in its prompt, real sandbox results back, and read tools only.
    first, last = fake_provider.recorder.requests[0], fake_provider.recorder.requests[-1]
    prompt = str(first["messages"])
    assert TABLE in prompt
    assert "Name" in prompt
    offered = offered_tools(first)
    assert {"analyze_table_data", "find_duplicates", "aggregate_records"} <= offered
    assert offered.isdisjoint(
        {"update_records", "create_records", "preview_changes", "apply_action"}
    )
    results = [str(m.get("content")) for m in last["messages"] if m.get("role") == "tool"]
    assert len(results) == 2
    assert "Name" in results[0]
    assert "Name" in results[1]

    # Costs: one usage row per LLM call (input $1, cached $0.5, output $4 per million).
    costs = [
        (Decimal(1000) + Decimal(50) * 4) / 10**6,
        (Decimal(1000) + Decimal(1000) * Decimal("0.5") + Decimal(40) * 4) / 10**6,
        (Decimal(3000) + Decimal(300) * 4) / 10**6,
    ]
    rows = owner_rows(
        infra,
        "SELECT input_tokens, output_tokens, cached_tokens, cost_usd, success, endpoint,"
        " session_id, user_id FROM api_usage_logs WHERE metadata->>'analysis_id' = %s",
        report["id"],
    )
    assert sorted(rows) == [
        (1000, 50, 0, costs[0], True, "analysis", None, tenant.user_id),
        (2000, 40, 1000, costs[1], True, "analysis", None, tenant.user_id),
        (3000, 300, 0, costs[2], True, "analysis", None, tenant.user_id),
    ]
    assert Decimal(report["cost_usd"]) == sum(costs)
    assert report["usage"]["llm_calls"] == 3
    assert report["usage"]["input_tokens"] == 6000

    fetched = await client.get(f"/api/v1/analysis/{report['id']}", headers=auth(tenant))
    assert fetched.status_code == 200
    assert fetched.json() == report
    listed = await client.get(
        "/api/v1/analysis", params={"base_id": tenant.base_id}, headers=auth(tenant)
    )
    assert report["id"] in [r["id"] for r in listed.json()["items"]]


async def test_write_back_puts_the_report_into_a_metadata_table_as_chat_actions(
    client: httpx.AsyncClient,
    fake_provider: FakeProvider,
    fresh_tenant: Tenant,
    infra: Infra,
    core: ThreadServer,
) -> None:
    tenant = fresh_tenant
    sandbox = Sandbox(core.url, tenant)
    reports = []
    for _ in range(2):
        fake_provider.play(*script(tenant))
        response = await client.post(
            "/api/v1/analysis",
            json={"base_id": tenant.base_id, "table": TABLE, "write_back": True},
            headers=auth(tenant),
        )
        assert response.status_code == 201, response.text
        reports.append(response.json())
    first, second = reports
    assert first["error"] is None, first["error"]
    assert first["write_back"]["table"] == "Table Analysis"
    assert first["write_back"]["table_created"] is True
    assert len(first["write_back"]["action_ids"]) == 2  # create_table, then the record
    # The second report is appended to the same table.
    assert second["write_back"]["table_created"] is False
    assert len(second["write_back"]["action_ids"]) == 1

    written = await sandbox.records("Table Analysis")
    by_report = {fields["Report ID"]: fields for fields in written.values()}
    assert set(by_report) == {first["id"], second["id"]}
    row = by_report[first["id"]]
    assert row["Table"] == TABLE
    assert row["Summary"] == REPORT["summary"]
    assert "[medium] Email is not always filled" in row["Findings"]
    assert row["Highest Severity"] == "medium"
    assert row["Findings Count"] == 2

    # Each write went through safe writes: applied actions, recorded with channel "chat".
    actions = owner_rows(
        infra,
        "SELECT id::text, operation, status, channel FROM actions WHERE id::text = ANY(%s)",
        first["write_back"]["action_ids"],
    )
    assert sorted(a[1:] for a in actions) == [
        ("create", "done", "chat"),
        ("create_table", "done", "chat"),
    ]


async def test_write_back_with_a_read_only_key_keeps_the_report_and_says_why(
    client: httpx.AsyncClient, fake_provider: FakeProvider, tenant: Tenant
) -> None:
    fake_provider.play(*script(tenant))
    response = await client.post(
        "/api/v1/analysis",
        json={"base_id": tenant.base_id, "table": TABLE, "write_back": True},
        headers={"Authorization": f"Bearer {tenant.read_key}"},
    )
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["status"] == "done"
    assert report["write_back"] is None
    assert "not written back" in report["error"]
    assert "read-only" in report["error"]


async def test_an_unknown_table_is_refused_before_the_provider_is_contacted(
    client: httpx.AsyncClient, fake_provider: FakeProvider, tenant: Tenant
) -> None:
    fake_provider.play(*script(tenant))
    response = await client.post(
        "/api/v1/analysis",
        json={"base_id": tenant.base_id, "table": "No Such Table"},
        headers=auth(tenant),
    )
    assert response.status_code == 404, response.text
    body = response.json()
    assert set(body) >= {"error", "detail", "request_id"}
    assert "No Such Table" in body["detail"]
    assert len(fake_provider.recorder) == 0


async def test_a_budget_blocks_an_analysis_before_the_provider_is_contacted(
    client: httpx.AsyncClient, fake_provider: FakeProvider, fresh_tenant: Tenant
) -> None:
    budget = await client.put(
        "/api/v1/budgets/me",
        json={"limit_usd": "0.000001", "period": "daily"},
        headers=auth(fresh_tenant),
    )
    assert budget.status_code == 200, budget.text
    fake_provider.play(*script(fresh_tenant))
    response = await client.post(
        "/api/v1/analysis",
        json={"base_id": fresh_tenant.base_id, "table": TABLE},
        headers=auth(fresh_tenant),
    )
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "budget_exceeded"
    assert len(fake_provider.recorder) == 0


async def test_a_provider_error_is_stored_as_a_failed_report(
    client: httpx.AsyncClient, fake_provider: FakeProvider, tenant: Tenant, infra: Infra
) -> None:
    fake_provider.play(error(500, "model exploded"))
    response = await client.post(
        "/api/v1/analysis",
        json={"base_id": tenant.base_id, "table": TABLE},
        headers=auth(tenant),
    )
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["error"] == "analysis_failed"
    assert "model exploded" in body["detail"]
    report_id = body["report_id"]
    stored = (await client.get(f"/api/v1/analysis/{report_id}", headers=auth(tenant))).json()
    assert stored["status"] == "failed"
    assert "500" in stored["error"]
    rows = owner_rows(
        infra,
        "SELECT success, status_code FROM api_usage_logs WHERE metadata->>'analysis_id' = %s",
        report_id,
    )
    assert rows == [(False, 500)]


async def test_bad_analysis_requests_get_clear_errors(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    bad = await client.post(
        "/api/v1/analysis", json={"base_id": "not-a-base", "table": ""}, headers=auth(tenant)
    )
    assert bad.status_code == 422, bad.text
    assert set(bad.json()) >= {"error", "detail", "request_id"}
    missing = await client.get(
        "/api/v1/analysis/00000000-0000-0000-0000-000000000000", headers=auth(tenant)
    )
    assert missing.status_code == 404
    assert orjson.loads(missing.content)["error"] == "not_found"
    anonymous = await client.get("/api/v1/analysis")
    assert anonymous.status_code == 401
