"""The default provider, Gemini, through its own wire format: pydantic-ai's ``GoogleModel``
(google-genai) against a scripted fake of ``generativelanguage.googleapis.com`` reached via
``GEMINI_BASE_URL``, with core's real MCP tools on the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import httpx
import pytest

from pyairtable_platform.ai.app import create_app
from pyairtable_platform.devinfra.throwaway import Infra
from tests.ai.conftest import FAKE_PRICES, FakeProvider, ai_settings, auth, owner_rows, parse_sse
from tests.ai.fakes.gemini import create_gemini_app
from tests.ai.fakes.script import ScriptedFake, ToolCall, call, error, serve, text
from tests.core.mcp.conftest import Tenant
from tests.support.servers import ThreadServer

GEMINI_MODEL = "gemini-2.5-flash"
GEMINI_KEY = "fake-gemini-key"


@pytest.fixture(scope="module")
def fake_gemini() -> Iterator[ScriptedFake]:
    with serve(create_gemini_app) as fake:
        yield fake


@pytest.fixture(scope="module")
def gemini_ai(
    core: ThreadServer, fake_provider: FakeProvider, fake_gemini: ScriptedFake
) -> Iterator[ThreadServer]:
    """An ai service whose deployment provider is Gemini, pointed at the fake."""
    settings = ai_settings(
        core,
        fake_provider,
        llm_provider="gemini",
        llm_model=GEMINI_MODEL,
        gemini_api_key=GEMINI_KEY,
        gemini_base_url=fake_gemini.server.url + "/",
        model_prices={GEMINI_MODEL: FAKE_PRICES},
    )
    with ThreadServer(create_app(settings)) as server:
        yield server


@pytest.fixture
async def gemini_client(gemini_ai: ThreadServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gemini_ai.url, timeout=60) as http:
        yield http


def function_responses(body: dict[str, object]) -> list[dict[str, object]]:
    contents = body["contents"]
    assert isinstance(contents, list)
    return [
        part["functionResponse"]
        for content in contents
        for part in content.get("parts", [])
        if "functionResponse" in part
    ]


async def test_a_gemini_turn_calls_two_mcp_tools_and_logs_the_reported_usage(
    gemini_client: httpx.AsyncClient, fake_gemini: ScriptedFake, tenant: Tenant, infra: Infra
) -> None:
    fake_gemini.play(
        call(ToolCall("list_bases"), input_tokens=1000, output_tokens=100, cached_tokens=400),
        call(
            ToolCall("list_tables", {"base_id": tenant.base_id, "detail": "ids"}),
            input_tokens=1500,
            output_tokens=60,
            thinking_tokens=20,
        ),
        text("Product Launch has several tables.", input_tokens=2000, output_tokens=300),
    )
    response = await gemini_client.post(
        "/api/v1/chat",
        json={"message": "Which tables do I have?", "stream": True},
        headers=auth(tenant),
    )
    assert response.status_code == 200, response.text
    events = parse_sse(response.text)
    start, end = events[0].data, events[-1].data
    assert (start["provider"], start["model"]) == ("gemini", GEMINI_MODEL)
    assert end["status"] == "completed", "\n".join(f"{e.type} {e.data}" for e in events)
    assert end["text"] == "Product Launch has several tables."
    assert [e.data["name"] for e in events if e.type == "tool_call"] == [
        "list_bases",
        "list_tables",
    ]
    assert [e.type for e in events if e.type == "error"] == []

    # The Gemini protocol itself: streaming endpoint, the key header, tools declared as
    # functionDeclarations, and real sandbox data coming back as functionResponses.
    requests = fake_gemini.recorder.requests
    assert len(requests) == 3
    assert {(r["_model"], r["_method"], r["_alt"], r["_api_key"]) for r in requests} == {
        (GEMINI_MODEL, "streamGenerateContent", "sse", GEMINI_KEY)
    }
    declared = {
        f["name"] for tool in requests[0]["tools"] for f in tool.get("functionDeclarations", [])
    }
    assert {"list_bases", "list_tables", "update_records"} <= declared
    assert "apply_action" not in declared
    answers = function_responses(requests[-1])
    assert [a["name"] for a in answers] == ["list_bases", "list_tables"]
    assert tenant.base_id in str(answers[0]["response"])
    assert "tbl" in str(answers[1]["response"])

    # One usage row per Gemini call, as usageMetadata reported it: thinking counts as output
    # (candidatesTokenCount + thoughtsTokenCount), cached content inside the prompt.
    rows = owner_rows(
        infra,
        "SELECT provider, model, input_tokens, output_tokens, cached_tokens, thinking_tokens,"
        " cost_usd, success FROM api_usage_logs WHERE session_id = %s ORDER BY created_at, id",
        start["session_id"],
    )
    # Prices: input $1, cached input $0.5, output $4 per million tokens.
    costs = [
        (Decimal(600) + Decimal(400) * Decimal("0.5") + Decimal(100) * 4) / 10**6,
        (Decimal(1500) + Decimal(60) * 4) / 10**6,
        (Decimal(2000) + Decimal(300) * 4) / 10**6,
    ]
    assert sorted(rows, key=lambda r: r[2]) == [
        ("gemini", GEMINI_MODEL, 1000, 100, 400, 0, costs[0], True),
        ("gemini", GEMINI_MODEL, 1500, 60, 0, 20, costs[1], True),
        ("gemini", GEMINI_MODEL, 2000, 300, 0, 0, costs[2], True),
    ]
    usage_events = [e.data for e in events if e.type == "usage"]
    assert [u["input_tokens"] for u in usage_events] == [1000, 1500, 2000]
    assert Decimal(end["usage"]["cost_usd"]) == sum(costs)


async def test_a_gemini_error_is_a_clean_provider_error_event(
    gemini_client: httpx.AsyncClient, fake_gemini: ScriptedFake, tenant: Tenant, infra: Infra
) -> None:
    fake_gemini.play(error(400, "API key not valid. Please pass a valid API key."))
    response = await gemini_client.post(
        "/api/v1/chat", json={"message": "Hello", "stream": True}, headers=auth(tenant)
    )
    events = parse_sse(response.text)
    assert [e.type for e in events] == ["message_start", "error", "message_end"]
    assert events[1].data["kind"] == "provider_error"
    assert "API key not valid" in events[1].data["message"]
    assert events[2].data["status"] == "failed"
    rows = owner_rows(
        infra,
        "SELECT success, status_code FROM api_usage_logs WHERE session_id = %s",
        events[0].data["session_id"],
    )
    assert rows == [(False, 400)]


async def test_a_gemini_turn_without_streaming_answers_json(
    gemini_client: httpx.AsyncClient, fake_gemini: ScriptedFake, tenant: Tenant
) -> None:
    fake_gemini.play(call(ToolCall("list_bases")), text("You have one base."))
    response = await gemini_client.post(
        "/api/v1/chat", json={"message": "My bases?"}, headers=auth(tenant)
    )
    answer = response.json()
    assert answer["status"] == "completed", answer
    assert answer["text"] == "You have one base."
    assert [c["name"] for c in answer["tool_calls"]] == ["list_bases"]
