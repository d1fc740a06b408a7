"""Channel attribution: writes made from chat are recorded by core with channel "chat" and the
chat session (from the ai service's ``X-PAP-Channel`` / ``X-PAP-Chat-Session`` headers), and
no MCP client can pass its writes off as another channel."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from pyairtable_platform.devinfra.throwaway import Infra
from tests.ai.conftest import FakeProvider, auth, owner_rows, parse_sse
from tests.ai.fakes.script import ToolCall, call, text
from tests.core.mcp.conftest import Sandbox, Tenant, payload
from tests.support.servers import ThreadServer

TABLE = "Team"


async def test_a_write_approved_in_chat_is_an_action_with_channel_chat_and_the_session(
    client: httpx.AsyncClient,
    fake_provider: FakeProvider,
    tenant: Tenant,
    core: ThreadServer,
    infra: Infra,
) -> None:
    sandbox = Sandbox(core.url, tenant)
    record_id = next(iter(await sandbox.records(TABLE)))
    fake_provider.play(
        call(
            ToolCall(
                "update_records",
                {
                    "base_id": tenant.base_id,
                    "table": TABLE,
                    "records": [{"id": record_id, "fields": {"Name": "Chat channel test"}}],
                },
            )
        ),
        text("Done."),
    )
    proposed = parse_sse(
        (
            await client.post(
                "/api/v1/chat",
                json={"message": "Rename the first member", "stream": True},
                headers=auth(tenant),
            )
        ).text
    )
    approval = next(e.data for e in proposed if e.type == "approval_required")
    session_id = proposed[0].data["session_id"]
    decided = await client.post(
        f"/api/v1/chat/sessions/{session_id}/approvals/{approval['action_id']}",
        json={"decision": "approve"},
        headers=auth(tenant),
    )
    assert decided.json()["status"] == "completed", decided.text
    undo = await client.post(
        f"/api/v1/chat/sessions/{session_id}/actions/{approval['action_id']}/revert",
        headers=auth(tenant),
    )
    assert undo.status_code == 200, undo.text

    rows = owner_rows(
        infra,
        "SELECT operation, status, channel, session_id, user_id FROM actions"
        " WHERE id = %s OR revert_of = %s ORDER BY created_at",
        approval["action_id"],
        approval["action_id"],
    )
    assert rows == [
        ("update", "reverted", "chat", uuid.UUID(session_id), tenant.user_id),
        ("revert", "done", "chat", uuid.UUID(session_id), tenant.user_id),
    ]
    # The audit trail holds the same attribution.
    audited = owner_rows(
        infra,
        "SELECT DISTINCT new_data->>'channel', new_data->>'session_id' FROM audit_log"
        " WHERE table_name = 'actions' AND row_id = %s AND new_data IS NOT NULL",
        approval["action_id"],
    )
    assert audited == [("chat", session_id)]


@asynccontextmanager
async def mcp_with_headers(url: str, headers: dict[str, str]) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60)) as http,
        Client(streamable_http_client(url, http_client=http), read_timeout_seconds=60) as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("channel", "recorded"),
    [("workflow", "mcp"), ("api", "mcp"), ("ui", "mcp"), ("CHAT", "chat"), (None, "mcp")],
)
async def test_an_mcp_client_may_label_its_writes_chat_and_nothing_else(
    channel: str | None, recorded: str, tenant: Tenant, core: ThreadServer, infra: Infra
) -> None:
    chat_session = uuid.uuid4()
    headers = {
        "Authorization": f"Bearer {tenant.write_key}",
        "X-PAP-Chat-Session": str(chat_session),
    }
    if channel is not None:
        headers["X-PAP-Channel"] = channel
    async with mcp_with_headers(core.url + "/mcp", headers) as mcp:
        answer = payload(
            await mcp.call_tool(
                "preview_changes",
                {
                    "operation": "create",
                    "base_id": tenant.base_id,
                    "table": TABLE,
                    "records": [{"Name": "Channel probe"}],
                },
            )
        )
    rows = owner_rows(
        infra, "SELECT channel, session_id FROM actions WHERE id = %s", answer["action_id"]
    )
    # The session id travels only with the chat channel.
    assert rows == [(recorded, chat_session if recorded == "chat" else None)]
