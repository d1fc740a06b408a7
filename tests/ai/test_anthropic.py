"""Anthropic through its own wire format: a workspace whose admin chose the ``anthropic``
provider (``PUT /api/v1/ai/provider`` with a base URL), pydantic-ai's ``AnthropicModel`` (the
``anthropic`` SDK) against a scripted fake of the Messages API, core's real MCP tools on the
sandbox, and the model priced by the genai-prices table (no override)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from pyairtable_platform.devinfra.throwaway import Infra
from tests.ai.conftest import auth, owner_rows, parse_sse
from tests.ai.fakes.anthropic import create_anthropic_app
from tests.ai.fakes.script import ScriptedFake, Step, ToolCall, Usage, call, error, serve, text
from tests.core.mcp.conftest import Tenant, make_tenant
from tests.support.servers import ThreadServer

CLAUDE_MODEL = "claude-sonnet-4-6"  # the default: the workspace's setting names no model
CLAUDE_KEY = "sk-ant-fake-key"
# Anthropic's list prices for Claude Sonnet 4.6 (prompts up to 200k tokens), USD per million
# tokens, as genai-prices carries them: cache reads at 0.1x and 5-minute cache writes at 1.25x
# the input price.
PRICE = {
    "input": Decimal(3),
    "output": Decimal(15),
    "read": Decimal("0.3"),
    "write": Decimal("3.75"),
}


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[ScriptedFake]:
    with serve(create_anthropic_app) as fake:
        yield fake


@pytest.fixture(scope="module")
async def claude_tenant(
    core: ThreadServer, ai: ThreadServer, infra: Infra, fake_anthropic: ScriptedFake
) -> Tenant:
    """A workspace of its own whose admin set the provider to Anthropic, at the fake."""
    tenant = await make_tenant(core.url, infra.app_url)
    async with httpx.AsyncClient(base_url=ai.url, timeout=30) as http:
        put = await http.put(
            "/api/v1/ai/provider",
            json={
                "provider": "anthropic",
                "api_key": CLAUDE_KEY,
                # The SDK's root: it adds /v1/messages itself.
                "base_url": fake_anthropic.server.url,
            },
            headers=auth(tenant),
        )
    assert put.status_code == 200, put.text
    assert (put.json()["provider"], put.json()["model"]) == ("anthropic", CLAUDE_MODEL)
    return tenant


def cost(usage: Usage) -> Decimal:
    """What Anthropic bills for a call, from the tokens the fake reported."""
    uncached = usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens
    total = (
        uncached * PRICE["input"]
        + usage.cached_tokens * PRICE["read"]
        + usage.cache_write_tokens * PRICE["write"]
        + usage.output_tokens * PRICE["output"]
    )
    return (total / 10**6).quantize(Decimal("0.000001"))


def blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    content = message["content"]
    return [] if isinstance(content, str) else [b for b in content if b["type"] == kind]


async def turn_in_session(
    client: httpx.AsyncClient,
    fake: ScriptedFake,
    tenant: Tenant,
    settings: dict[str, Any],
    step: Step,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One turn in a new session with these model settings: the answer and the one request the
    fake received."""
    created = await client.post(
        "/api/v1/chat/sessions", json={"settings": settings}, headers=auth(tenant)
    )
    assert created.status_code == 201, created.text
    fake.play(step)
    response = await client.post(
        "/api/v1/chat",
        json={"message": "Hello", "session_id": created.json()["id"]},
        headers=auth(tenant),
    )
    answer = response.json()
    assert answer["status"] == "completed", answer
    (sent,) = fake.recorder.requests
    return answer, sent


async def test_an_anthropic_turn_calls_two_mcp_tools_and_logs_the_reported_usage(
    client: httpx.AsyncClient, fake_anthropic: ScriptedFake, claude_tenant: Tenant, infra: Infra
) -> None:
    first = Usage(input_tokens=1000, output_tokens=100, cached_tokens=0, cache_write_tokens=800)
    second = Usage(input_tokens=1500, output_tokens=60, cached_tokens=800, thinking_tokens=20)
    third = Usage(input_tokens=2000, output_tokens=300, cached_tokens=800)
    fake_anthropic.play(
        Step(text="Let me look.", tool_calls=(ToolCall("list_bases"),), usage=first),
        Step(
            thinking="The base is known; now its tables.",
            tool_calls=(
                ToolCall("list_tables", {"base_id": claude_tenant.base_id, "detail": "ids"}),
            ),
            usage=second,
        ),
        Step(text="Product Launch has several tables.", usage=third),
    )
    response = await client.post(
        "/api/v1/chat",
        json={"message": "Which tables do I have?", "stream": True},
        headers=auth(claude_tenant),
    )
    assert response.status_code == 200, response.text
    events = parse_sse(response.text)
    trace = "\n".join(f"{e.type} {e.data}" for e in events)
    start, end = events[0].data, events[-1].data
    assert (start["provider"], start["model"]) == ("anthropic", CLAUDE_MODEL)
    assert end["status"] == "completed", trace
    # Text from before the tool calls and the final answer (how they are joined is the chat's).
    assert end["text"].startswith("Let me look.")
    assert end["text"].endswith("Product Launch has several tables.")
    assert [e.type for e in events if e.type == "error"] == []

    # The SSE order: the first call's text streams before its tool call; each call's usage
    # comes when its response is complete, before the tool runs; message_end is last.
    order = [e.type for e in events]
    collapsed = [t for i, t in enumerate(order) if i == 0 or order[i - 1] != t]
    assert collapsed == [
        "message_start",
        "text_delta",
        "usage",
        "tool_call",
        "tool_result",
        "usage",
        "tool_call",
        "tool_result",
        "text_delta",
        "usage",
        "message_end",
    ], trace
    streamed = "".join(e.data["text"] for e in events if e.type == "text_delta")
    assert streamed.startswith("Let me look.")
    assert streamed.endswith("Product Launch has several tables.")
    assert [e.data["name"] for e in events if e.type == "tool_call"] == [
        "list_bases",
        "list_tables",
    ]
    assert events[order.index("tool_call", order.index("tool_call") + 1)].data["arguments"] == {
        "base_id": claude_tenant.base_id,
        "detail": "ids",
    }

    # The Messages protocol itself: streamed, the key and version headers, tools declared
    # with input_schema, and each tool_use answered by a tool_result with its id carrying
    # real sandbox data.
    requests = fake_anthropic.recorder.requests
    assert len(requests) == 3
    assert {(r["model"], r["stream"], r["_api_key"]) for r in requests} == {
        (CLAUDE_MODEL, True, CLAUDE_KEY)
    }
    assert all(r["_version"] for r in requests)
    declared = {tool["name"]: tool for tool in requests[0]["tools"]}
    assert {"list_bases", "list_tables", "update_records"} <= declared.keys()
    assert "apply_action" not in declared
    assert declared["list_tables"]["input_schema"]["type"] == "object"
    last = requests[-1]["messages"]
    assert [m["role"] for m in last] == ["user", "assistant", "user", "assistant", "user"]
    uses = [block for m in last[1::2] for block in blocks(m, "tool_use")]
    results = [block for m in last[2::2] for block in blocks(m, "tool_result")]
    assert [u["name"] for u in uses] == ["list_bases", "list_tables"]
    assert [r["tool_use_id"] for r in results] == [u["id"] for u in uses]
    assert all(u["id"].startswith("toolu_fake") for u in uses)
    assert claude_tenant.base_id in str(results[0]["content"])
    assert "tbl" in str(results[1]["content"])
    # The thinking block goes back with its signature, as Anthropic requires.
    thinking = blocks(last[3], "thinking")
    assert [b["thinking"] for b in thinking] == ["The base is known; now its tables."]
    assert thinking[0]["signature"].startswith("sig-")

    # One usage row per call, as Anthropic reported it: cache reads and writes counted in the
    # input tokens (reads also in cached_tokens), thinking in the output tokens; priced from
    # the genai-prices table with cache writes at their own price.
    rows = owner_rows(
        infra,
        "SELECT provider, model, input_tokens, output_tokens, cached_tokens, thinking_tokens,"
        " cost_usd, success FROM api_usage_logs WHERE session_id = %s ORDER BY created_at, id",
        start["session_id"],
    )
    assert sorted(rows, key=lambda r: r[2]) == [
        ("anthropic", CLAUDE_MODEL, 1000, 100, 0, 0, cost(first), True),
        ("anthropic", CLAUDE_MODEL, 1500, 60, 800, 20, cost(second), True),
        ("anthropic", CLAUDE_MODEL, 2000, 300, 800, 0, cost(third), True),
    ]
    usage_events = [e.data for e in events if e.type == "usage"]
    assert [(u["input_tokens"], u["cached_tokens"]) for u in usage_events] == [
        (1000, 0),
        (1500, 800),
        (2000, 800),
    ]
    assert [Decimal(u["cost_usd"]) for u in usage_events] == [
        cost(first),
        cost(second),
        cost(third),
    ]
    assert Decimal(end["usage"]["cost_usd"]) == cost(first) + cost(second) + cost(third)


@pytest.mark.parametrize(
    ("status", "message", "mid_stream"),
    [
        (529, "Overloaded", False),
        (400, "max_tokens: Field required", False),
        # Anthropic may also fail a stream it already answered 200, with an error event.
        (529, "Overloaded", True),
    ],
)
async def test_an_anthropic_error_is_a_clean_provider_error_event(
    client: httpx.AsyncClient,
    fake_anthropic: ScriptedFake,
    claude_tenant: Tenant,
    infra: Infra,
    status: int,
    message: str,
    mid_stream: bool,
) -> None:
    fake_anthropic.play(error(status, message, mid_stream=mid_stream))
    response = await client.post(
        "/api/v1/chat", json={"message": "Hello", "stream": True}, headers=auth(claude_tenant)
    )
    assert response.status_code == 200, response.text
    events = parse_sse(response.text)
    assert [e.type for e in events] == ["message_start", "error", "message_end"]
    assert events[1].data["kind"] == "provider_error"
    assert message in events[1].data["message"]
    assert events[2].data["status"] == "failed"
    # Retries are off in the test settings: exactly one request, one failed usage row.
    assert len(fake_anthropic.recorder) == 1
    rows = owner_rows(
        infra,
        "SELECT provider, success, status_code, cost_usd FROM api_usage_logs WHERE session_id = %s",
        events[0].data["session_id"],
    )
    assert rows == [("anthropic", False, status, Decimal(0))]


async def test_an_anthropic_turn_without_streaming_answers_json_and_continues_the_session(
    client: httpx.AsyncClient, fake_anthropic: ScriptedFake, claude_tenant: Tenant
) -> None:
    fake_anthropic.play(call(ToolCall("list_bases")), text("You have one base."))
    response = await client.post(
        "/api/v1/chat", json={"message": "My bases?"}, headers=auth(claude_tenant)
    )
    answer = response.json()
    assert answer["status"] == "completed", answer
    assert answer["text"] == "You have one base."
    assert [c["name"] for c in answer["tool_calls"]] == ["list_bases"]

    # The next turn replays the stored history, tool round trip included, in Anthropic's
    # shape (the fake refuses a tool_use without its tool_result).
    fake_anthropic.play(text("Still one base."))
    again = await client.post(
        "/api/v1/chat",
        json={"message": "And now?", "session_id": answer["session_id"]},
        headers=auth(claude_tenant),
    )
    assert again.json()["status"] == "completed", again.json()
    assert again.json()["text"] == "Still one base."
    history = fake_anthropic.recorder.requests[-1]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant", "user"]
    assert (
        blocks(history[2], "tool_result")[0]["tool_use_id"]
        == blocks(history[1], "tool_use")[0]["id"]
    )


async def test_the_fake_refuses_what_anthropic_refuses(fake_anthropic: ScriptedFake) -> None:
    """The fake checks requests as Anthropic does, so the turns above prove the key was sent and
    every tool_use was answered by its tool_result."""
    fake_anthropic.play(call(ToolCall("list_bases")), text("unreachable"))
    key = {"x-api-key": CLAUDE_KEY, "anthropic-version": "2023-06-01"}
    prompt = {"role": "user", "content": "Hi"}
    async with httpx.AsyncClient(base_url=fake_anthropic.server.url, timeout=10) as http:
        body = {"model": CLAUDE_MODEL, "max_tokens": 100, "messages": [prompt]}
        keyless = await http.post(
            "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}
        )
        assert keyless.status_code == 401
        assert keyless.json()["type"] == "error"
        assert keyless.json()["error"]["type"] == "authentication_error"

        answered = await http.post("/v1/messages", json=body, headers=key)
        assert answered.status_code == 200, answered.text
        message = answered.json()
        assert (message["type"], message["stop_reason"]) == ("message", "tool_use")
        assert "input_tokens" in message["usage"]
        unanswered = [prompt, {"role": "assistant", "content": message["content"]}, prompt]
        refused = await http.post("/v1/messages", json=body | {"messages": unanswered}, headers=key)
        assert refused.status_code == 400
        assert refused.json()["error"]["type"] == "invalid_request_error"
        assert "tool_result" in refused.json()["error"]["message"]

        thinking = {"type": "enabled", "budget_tokens": 1024}
        hot = await http.post(
            "/v1/messages",
            json=body | {"max_tokens": 2048, "thinking": thinking, "temperature": 0.5},
            headers=key,
        )
        assert hot.status_code == 400
        assert "temperature" in hot.json()["error"]["message"]


async def test_a_thinking_budget_is_sent_as_budget_tokens_and_drops_the_temperature(
    client: httpx.AsyncClient, fake_anthropic: ScriptedFake, claude_tenant: Tenant
) -> None:
    """Claude 4.6 takes a fixed budget; Anthropic refuses a temperature while thinking (the
    fake answers 400 as it does), so the session's temperature is left out."""
    answer, sent = await turn_in_session(
        client,
        fake_anthropic,
        claude_tenant,
        {"thinking_budget": 2048, "max_tokens": 4096, "temperature": 0.2},
        Step(thinking="A greeting; answer briefly.", text="Hi.", usage=Usage(thinking_tokens=12)),
    )
    assert answer["text"] == "Hi."
    assert answer["usage"]["thinking_tokens"] == 12
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert sent["max_tokens"] == 4096
    assert "temperature" not in sent


async def test_newer_claude_models_think_adaptively_at_an_effort_from_the_budget(
    client: httpx.AsyncClient, fake_anthropic: ScriptedFake, claude_tenant: Tenant, infra: Infra
) -> None:
    """Claude 4.7 and later refuse a fixed budget (400 ``thinking.type.enabled`` is not
    supported): the budget becomes adaptive thinking at an effort."""
    answer, sent = await turn_in_session(
        client,
        fake_anthropic,
        claude_tenant,
        {"model": "claude-sonnet-5-5", "thinking_budget": 16000},
        Step(thinking="Think hard.", text="Done thinking."),
    )
    assert sent["model"] == "claude-sonnet-5-5"
    assert sent["thinking"] == {"type": "adaptive"}
    assert sent["output_config"] == {"effort": "high"}
    rows = owner_rows(
        infra,
        "SELECT model, cost_usd FROM api_usage_logs WHERE session_id = %s",
        answer["session_id"],
    )
    # The session's model is the one logged and priced ($2 in, $10 out per million).
    assert rows == [("claude-sonnet-5-5", Decimal("0.000400"))]


async def test_a_table_analysis_runs_on_claude_and_answers_through_the_output_tool(
    client: httpx.AsyncClient, fake_anthropic: ScriptedFake, claude_tenant: Tenant
) -> None:
    report = {
        "summary": "Team is small and complete.",
        "findings": [
            {
                "severity": "info",
                "category": "structure",
                "title": "No field descriptions",
                "detail": "describe_table shows none",
            }
        ],
        "suggestions": ["Add field descriptions"],
    }
    fake_anthropic.play(
        call(ToolCall("analyze_table_data", {"base_id": claude_tenant.base_id, "table": "Team"})),
        call(ToolCall("final_result", report)),
    )
    response = await client.post(
        "/api/v1/analysis",
        json={"base_id": claude_tenant.base_id, "table": "Team"},
        headers=auth(claude_tenant),
    )
    assert response.status_code == 201, response.text
    assert response.json()["summary"] == report["summary"]
    assert [t["name"] for t in response.json()["tools_used"]] == [
        "describe_table",
        "analyze_table_data",
    ]
    requests = fake_anthropic.recorder.requests
    # Analysis calls the model without streaming: one JSON message per call.
    assert [r["stream"] for r in requests] == [False, False]
    assert "final_result" in {tool["name"] for tool in requests[0]["tools"]}
    results = [b for m in requests[1]["messages"] for b in blocks(m, "tool_result")]
    assert "Name" in str(results[0]["content"])
