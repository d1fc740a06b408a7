"""Sessions, search, providers and budgets through the ai service's HTTP API."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import httpx

from pyairtable_platform.ai.app import create_app
from pyairtable_platform.ai.config import AiSettings
from pyairtable_platform.devinfra.throwaway import Infra
from tests.ai.conftest import FakeProvider, auth, owner_rows
from tests.ai.fakes.script import ToolCall, call, text
from tests.core.mcp.conftest import Tenant
from tests.support.servers import ThreadServer

WAIT_SECONDS = 20.0


async def test_a_budget_blocks_the_turn_before_the_provider_is_contacted(
    client: httpx.AsyncClient, fake_provider: FakeProvider, fresh_tenant: Tenant, infra: Infra
) -> None:
    budget = await client.put(
        "/api/v1/budgets/workspace",
        json={"limit_usd": "1.00", "period": "daily"},
        headers=auth(fresh_tenant),
    )
    assert budget.status_code == 200, budget.text
    # $0.59 of input and $0.40 of output: 99 % of the budget, past the 80 % alert.
    fake_provider.play(text("Hi.", input_tokens=590_000, output_tokens=100_000))
    first = await client.post("/api/v1/chat", json={"message": "hi"}, headers=auth(fresh_tenant))
    assert first.json()["status"] == "completed", first.text
    assert [a["type"] for a in first.json()["alerts"]] == ["threshold_exceeded"]
    listed = (await client.get("/api/v1/budgets", headers=auth(fresh_tenant))).json()
    assert Decimal(listed["budgets"][0]["spent_usd"]) == Decimal("0.99")
    fake_provider.recorder.clear()

    refused = await client.post(
        "/api/v1/chat", json={"message": "again"}, headers=auth(fresh_tenant)
    )
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["error"] == "budget_exceeded"
    assert body["budget"]["type"] == "workspace"
    assert "request_id" in body
    assert len(fake_provider.recorder) == 0  # the provider never saw a request
    alerts = await client.get("/api/v1/budgets/alerts", headers=auth(fresh_tenant))
    assert [a["alert_type"] for a in alerts.json()["alerts"]] == ["threshold_exceeded"]
    rows = owner_rows(
        infra,
        "SELECT alert_type, budget_type FROM budget_alerts WHERE workspace_id = %s",
        fresh_tenant.workspace_id,
    )
    assert rows == [("threshold_exceeded", "workspace")]


async def test_without_a_provider_chat_answers_503_saying_what_to_set(
    core: ThreadServer, fresh_tenant: Tenant, infra: Infra
) -> None:
    settings = AiSettings(core_url=core.url)
    for name in ("gemini_api_key", "openai_api_key", "anthropic_api_key", "openai_base_url"):
        setattr(settings, name, None)
    settings.llm_provider = None
    with ThreadServer(create_app(settings)) as bare:
        async with httpx.AsyncClient(base_url=bare.url, timeout=30) as http:
            response = await http.post(
                "/api/v1/chat", json={"message": "hi"}, headers=auth(fresh_tenant)
            )
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "llm_not_configured"
            assert "GEMINI_API_KEY" in response.json()["detail"]
            assert "PUT /api/v1/ai/provider" in response.json()["detail"]
            # An admin configures the workspace; the key is stored encrypted, never returned.
            put = await http.put(
                "/api/v1/ai/provider",
                json={
                    "provider": "openai",
                    "model": "gpt-4.1-mini",
                    "api_key": "sk-test-secret-value",
                },
                headers=auth(fresh_tenant),
            )
            assert put.status_code == 200, put.text
            assert put.json()["source"] == "workspace"
            assert put.json()["has_api_key"] is True
            assert "sk-test" not in put.text
            got = await http.get("/api/v1/ai/provider", headers=auth(fresh_tenant))
            assert "sk-test" not in got.text
    stored = owner_rows(
        infra,
        "SELECT api_key_encrypted FROM ai_provider_settings WHERE workspace_id = %s",
        fresh_tenant.workspace_id,
    )
    assert stored
    assert stored[0][0].startswith("v1.")
    assert "sk-test" not in stored[0][0]


async def test_sessions_can_be_listed_renamed_searched_cleared_and_deleted(
    client: httpx.AsyncClient, fake_provider: FakeProvider, fresh_tenant: Tenant
) -> None:
    headers = auth(fresh_tenant)
    created = await client.post(
        "/api/v1/chat/sessions",
        json={"title": "Budget review", "settings": {"temperature": 0.2, "max_tokens": 512}},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    fake_provider.play(text("The quarterly invoices look fine."))
    turn = await client.post(
        "/api/v1/chat",
        json={"message": "Check the quarterly invoices", "session_id": session_id},
        headers=headers,
    )
    assert turn.json()["status"] == "completed"
    # The session's settings reached the provider.
    assert fake_provider.recorder.requests[-1]["max_completion_tokens"] == 512
    assert fake_provider.recorder.requests[-1]["temperature"] == 0.2

    listed = await client.get("/api/v1/chat/sessions", headers=headers)
    assert [s["id"] for s in listed.json()["sessions"]] == [session_id]
    renamed = await client.patch(
        f"/api/v1/chat/sessions/{session_id}", json={"title": "Invoices"}, headers=headers
    )
    assert renamed.json()["title"] == "Invoices"
    found = await client.get("/api/v1/chat/search", params={"q": "invoice"}, headers=headers)
    hits = found.json()["hits"]
    assert {h["role"] for h in hits} == {"user", "assistant"}
    assert all("<b>" in h["highlight"] for h in hits)
    detail = await client.get(f"/api/v1/chat/sessions/{session_id}", headers=headers)
    assert [m["role"] for m in detail.json()["messages"]] == ["user", "assistant"]
    # Stored together at the end of the turn, the question keeps the time it was asked.
    asked, answered = detail.json()["messages"]
    assert asked["content"] == "Check the quarterly invoices"
    assert answered["content"] == "The quarterly invoices look fine."
    assert asked["created_at"] < answered["created_at"]
    assert detail.json()["total_messages"] == 2

    cleared = await client.post(f"/api/v1/chat/sessions/{session_id}/clear", headers=headers)
    assert cleared.json()["total_messages"] == 0
    deleted = await client.delete(f"/api/v1/chat/sessions/{session_id}", headers=headers)
    assert deleted.status_code == 204
    missing = await client.get(f"/api/v1/chat/sessions/{session_id}", headers=headers)
    assert missing.status_code == 404
    assert set(missing.json()) >= {"error", "detail", "request_id"}


async def test_history_carries_earlier_turns_with_their_tool_calls(
    client: httpx.AsyncClient, fake_provider: FakeProvider, tenant: Tenant
) -> None:
    fake_provider.play(call(ToolCall("list_bases")), text("You have one base."))
    first = (
        await client.post("/api/v1/chat", json={"message": "bases?"}, headers=auth(tenant))
    ).json()
    fake_provider.play(text("Still one."))
    await client.post(
        "/api/v1/chat",
        json={"message": "and now?", "session_id": first["session_id"]},
        headers=auth(tenant),
    )
    roles = [m["role"] for m in fake_provider.recorder.requests[-1]["messages"]]
    # system, user, assistant (tool call), tool (its result), assistant, user
    assert roles[-5:] == ["user", "assistant", "tool", "assistant", "user"]


async def test_a_client_that_disconnects_mid_turn_loses_nothing(
    ai: ThreadServer, fake_provider: FakeProvider, tenant: Tenant
) -> None:
    fake_provider.play(call(ToolCall("list_bases")), text("Finished without you."))
    async with httpx.AsyncClient(base_url=ai.url, timeout=30) as http:
        async with http.stream(
            "POST", "/api/v1/chat", json={"message": "go", "stream": True}, headers=auth(tenant)
        ) as response:
            session_id = response.headers["x-chat-session"]
            async for _ in response.aiter_bytes():
                break  # hang up after the first event
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            detail = await http.get(f"/api/v1/chat/sessions/{session_id}", headers=auth(tenant))
            messages = detail.json()["messages"]
            if len(messages) == 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == "Finished without you."
    assert messages[1]["status"] == "completed"
