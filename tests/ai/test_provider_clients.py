"""The OpenAI client sends messages and tools as given (``ai/providers/clients.py``): checked
against the bodies of a real turn, so an SDK release that starts rewriting these fields fails
here rather than silently sending something the SDK would have changed."""

from __future__ import annotations

import httpx
from openai._utils._transform import async_maybe_transform
from openai.types.chat.completion_create_params import CompletionCreateParamsStreaming

from tests.ai.conftest import FakeProvider, auth
from tests.ai.fakes.script import ToolCall, call, text
from tests.core.mcp.conftest import Tenant


async def test_the_sdk_body_walk_would_not_change_the_messages_and_tools_a_turn_sends(
    client: httpx.AsyncClient, fake_provider: FakeProvider, tenant: Tenant
) -> None:
    fake_provider.play(
        call(ToolCall("list_bases")),
        call(ToolCall("list_tables", {"base_id": tenant.base_id, "detail": "ids"})),
        text("Two tools later."),
    )
    response = await client.post(
        "/api/v1/chat", json={"message": "What tables do I have?"}, headers=auth(tenant)
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    bodies = fake_provider.recorder.requests[-3:]
    assert len(bodies) == 3
    last = bodies[-1]
    # Everything a request carries: system and user text, assistant tool calls, tool results.
    assert {m["role"] for m in last["messages"]} >= {"system", "user", "assistant", "tool"}
    assert len(last["tools"]) > 10
    for body in bodies:
        walked = await async_maybe_transform(body, CompletionCreateParamsStreaming)
        assert walked == body
