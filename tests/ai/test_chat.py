"""Chat turns end to end: the ai service as a real HTTP server, a scripted OpenAI-compatible
fake provider, and core's real MCP server on the sandbox demo base."""

from __future__ import annotations

from decimal import Decimal

import httpx

from pyairtable_platform.devinfra.throwaway import Infra
from tests.ai.conftest import (
    FakeProvider,
    auth,
    owner_rows,
    parse_sse,
)
from tests.ai.fakes.script import ToolCall, call, error, text
from tests.core.mcp.conftest import Tenant


def tool_messages(body: dict[str, object]) -> list[str]:
    messages = body["messages"]
    assert isinstance(messages, list)
    return [str(m.get("content")) for m in messages if m.get("role") == "tool"]


async def test_a_turn_calls_two_mcp_tools_on_the_sandbox_and_answers(
    client: httpx.AsyncClient, fake_provider: FakeProvider, tenant: Tenant
) -> None:
    fake_provider.play(
        call(ToolCall("list_bases")),
        call(ToolCall("list_tables", {"base_id": tenant.base_id, "detail": "ids"})),
        text("Your base Product Launch has several tables."),
    )
    response = await client.post(
        "/api/v1/chat", json={"message": "What tables do I have?"}, headers=auth(tenant)
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "completed", answer
    assert answer["text"] == "Your base Product Launch has several tables."
    assert [c["name"] for c in answer["tool_calls"]] == ["list_bases", "list_tables"]
    assert all(c["result"]["error"] is None for c in answer["tool_calls"]), answer["tool_calls"]
    assert answer["errors"] == []
    # The model saw real sandbox data coming back from core's MCP server.
    assert len(fake_provider.recorder) == 3
    final_request = fake_provider.recorder.requests[-1]
    results = tool_messages(final_request)
    assert tenant.base_id in results[0]
    assert "Product Launch" in results[0]
    assert "tbl" in results[1]
    # The model was offered core's tools, but never apply_action (approvals are the user's).
    offered = {t["function"]["name"] for t in final_request["tools"]}
    assert {"list_bases", "list_records", "update_records"} <= offered
    assert "apply_action" not in offered


async def test_stream_sends_events_in_order(
    client: httpx.AsyncClient, fake_provider: FakeProvider, tenant: Tenant
) -> None:
    fake_provider.play(call(ToolCall("list_bases")), text("One base: Product Launch."))
    response = await client.post(
        "/api/v1/chat",
        json={"message": "List my bases", "stream": True},
        headers=auth(tenant),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    kinds = [e.type for e in events]
    # Consecutive text deltas collapsed: the order is what a client renders.
    collapsed = [k for i, k in enumerate(kinds) if i == 0 or k != kinds[i - 1]]
    assert collapsed == [
        "message_start",
        "usage",
        "tool_call",
        "tool_result",
        "text_delta",
        "usage",
        "message_end",
    ]
    start, end = events[0].data, events[-1].data
    assert start["session_id"] == end["session_id"] == response.headers["x-chat-session"]
    assert "".join(e.data["text"] for e in events if e.type == "text_delta") == (
        "One base: Product Launch."
    )
    tool_result = next(e.data for e in events if e.type == "tool_result")
    assert tool_result["name"] == "list_bases"
    assert tool_result["size"] > 0
    assert end["status"] == "completed"
    assert end["message_id"]


async def test_usage_rows_and_costs_match_the_providers_reported_tokens(
    client: httpx.AsyncClient, fake_provider: FakeProvider, tenant: Tenant, infra: Infra
) -> None:
    fake_provider.play(
        call(ToolCall("list_bases"), input_tokens=1000, output_tokens=100, cached_tokens=400),
        text("Done.", input_tokens=2000, output_tokens=300, thinking_tokens=50),
    )
    response = await client.post(
        "/api/v1/chat", json={"message": "Count things"}, headers=auth(tenant)
    )
    answer = response.json()
    assert answer["status"] == "completed", answer
    rows = owner_rows(
        infra,
        "SELECT input_tokens, output_tokens, cached_tokens, thinking_tokens, cost_usd, success,"
        " model, user_id, workspace_id FROM api_usage_logs WHERE session_id = %s"
        " ORDER BY created_at",
        answer["session_id"],
    )
    # Prices: input $1, cached input $0.5, output $4 per million tokens.
    first = (Decimal(600) * 1 + Decimal(400) * Decimal("0.5") + Decimal(100) * 4) / 10**6
    second = (Decimal(2000) * 1 + Decimal(300) * 4) / 10**6
    assert [r[:6] for r in rows] == [
        (1000, 100, 400, 0, first, True),
        (2000, 300, 0, 50, second, True),
    ]
    assert {(r[6], r[7], r[8]) for r in rows} == {
        ("fake-model", tenant.user_id, tenant.workspace_id)
    }
    assert Decimal(answer["usage"]["cost_usd"]) == first + second
    calls = await client.get(f"/api/v1/usage/sessions/{answer['session_id']}", headers=auth(tenant))
    assert Decimal(calls.json()["total_cost_usd"]) == first + second


async def test_a_provider_error_ends_the_turn_with_a_clean_error_event(
    client: httpx.AsyncClient, fake_provider: FakeProvider, tenant: Tenant, infra: Infra
) -> None:
    fake_provider.play(error(500, "model exploded"))
    response = await client.post(
        "/api/v1/chat", json={"message": "Hello", "stream": True}, headers=auth(tenant)
    )
    assert response.status_code == 200
    events = parse_sse(response.text)
    assert [e.type for e in events] == ["message_start", "error", "message_end"]
    assert events[1].data["kind"] == "provider_error"
    assert "500" in events[1].data["message"]
    assert "model exploded" in events[1].data["message"]
    assert events[2].data["status"] == "failed"
    rows = owner_rows(
        infra,
        "SELECT success, status_code FROM api_usage_logs WHERE session_id = %s",
        events[0].data["session_id"],
    )
    assert rows == [(False, 500)]


async def test_a_tool_error_is_a_clean_error_event_and_the_turn_goes_on(
    client: httpx.AsyncClient, fake_provider: FakeProvider, tenant: Tenant
) -> None:
    fake_provider.play(
        call(ToolCall("describe_table", {"base_id": tenant.base_id, "table": "No Such Table"})),
        text("That table does not exist."),
    )
    response = await client.post(
        "/api/v1/chat", json={"message": "Describe it", "stream": True}, headers=auth(tenant)
    )
    events = parse_sse(response.text)
    kinds = [e.type for e in events]
    assert "error" in kinds, kinds
    failure = next(e.data for e in events if e.type == "error")
    assert failure["kind"] == "tool_error"
    assert failure["tool"] == "describe_table"
    assert "No Such Table" in failure["message"]
    assert kinds.index("tool_call") < kinds.index("error") < kinds.index("message_end")
    assert events[-1].data["status"] == "completed"
    assert events[-1].data["text"] == "That table does not exist."
    # The model was told what went wrong so it could correct itself.
    assert "No Such Table" in tool_messages(fake_provider.recorder.requests[-1])[0] or any(
        "No Such Table" in str(m.get("content"))
        for m in fake_provider.recorder.requests[-1]["messages"]
    )
