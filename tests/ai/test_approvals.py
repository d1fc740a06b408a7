"""Safe writes in chat: the model's write is a preview, the user approves it in the chat, the
sandbox changes for real, and undo from the chat reverts it."""

from __future__ import annotations

import httpx

from tests.ai.conftest import FakeProvider, auth, parse_sse
from tests.ai.fakes.script import ToolCall, call, text
from tests.core.mcp.conftest import Sandbox, Tenant
from tests.support.servers import ThreadServer

TABLE = "Team"


async def test_an_approved_write_changes_the_sandbox_and_undo_reverts_it(
    client: httpx.AsyncClient, fake_provider: FakeProvider, tenant: Tenant, core: ThreadServer
) -> None:
    sandbox = Sandbox(core.url, tenant)
    before = await sandbox.records(TABLE)
    record_id, fields = next(iter(before.items()))
    old_name = fields["Name"]
    fake_provider.play(
        call(
            ToolCall(
                "update_records",
                {
                    "base_id": tenant.base_id,
                    "table": TABLE,
                    "records": [{"id": record_id, "fields": {"Name": "Renamed by chat"}}],
                },
            )
        ),
        text("The record is renamed."),
    )
    response = await client.post(
        "/api/v1/chat",
        json={"message": "Rename the first team member", "stream": True},
        headers=auth(tenant),
    )
    events = parse_sse(response.text)
    kinds = [e.type for e in events]
    assert kinds == ["message_start", "usage", "tool_call", "approval_required", "message_end"], [
        (e.type, e.data) for e in events
    ]
    approval = events[3].data
    assert approval["tool"] == "update_records"
    assert approval["action_id"]
    assert "Renamed by chat" in str(approval["diff"])
    assert events[-1].data["status"] == "awaiting_approval"
    session_id = events[0].data["session_id"]
    # Nothing was written yet, and the session waits for the decision.
    assert (await sandbox.records(TABLE))[record_id]["Name"] == old_name
    blocked = await client.post(
        "/api/v1/chat",
        json={"message": "something else", "session_id": session_id},
        headers=auth(tenant),
    )
    assert blocked.status_code == 409, blocked.text
    assert approval["action_id"] in blocked.json()["detail"]

    decided = await client.post(
        f"/api/v1/chat/sessions/{session_id}/approvals/{approval['action_id']}",
        json={"decision": "approve", "stream": True},
        headers=auth(tenant),
    )
    assert decided.status_code == 200, decided.text
    resumed = parse_sse(decided.text)
    assert [e.type for e in resumed if e.type != "text_delta"] == [
        "message_start",
        "tool_result",
        "usage",
        "message_end",
    ]
    assert resumed[-1].data["status"] == "completed"
    assert resumed[-1].data["text"] == "The record is renamed."
    assert (await sandbox.records(TABLE))[record_id]["Name"] == "Renamed by chat"
    # The model heard that the write was applied, in the same turn.
    tool_result = [
        m for m in fake_provider.recorder.requests[-1]["messages"] if m.get("role") == "tool"
    ]
    assert "applied" in str(tool_result[-1]["content"])

    again = await client.post(
        f"/api/v1/chat/sessions/{session_id}/approvals/{approval['action_id']}",
        json={"decision": "approve"},
        headers=auth(tenant),
    )
    assert again.status_code == 409

    undo = await client.post(
        f"/api/v1/chat/sessions/{session_id}/actions/{approval['action_id']}/revert",
        headers=auth(tenant),
    )
    assert undo.status_code == 200, undo.text
    assert (await sandbox.records(TABLE))[record_id]["Name"] == old_name
    session = await client.get(f"/api/v1/chat/sessions/{session_id}", headers=auth(tenant))
    assert session.json()["pending_approvals"] == []
    assert "reverted" in session.json()["messages"][-1]["content"]


async def test_a_rejected_write_changes_nothing_and_the_model_is_told(
    client: httpx.AsyncClient, fake_provider: FakeProvider, tenant: Tenant, core: ThreadServer
) -> None:
    sandbox = Sandbox(core.url, tenant)
    before = await sandbox.records(TABLE)
    record_id = next(iter(before))
    fake_provider.play(
        call(
            ToolCall(
                "update_records",
                {
                    "base_id": tenant.base_id,
                    "table": TABLE,
                    "records": [{"id": record_id, "fields": {"Name": "Should not happen"}}],
                },
            )
        ),
        text("Understood, nothing changed."),
    )
    first = (
        await client.post("/api/v1/chat", json={"message": "Rename"}, headers=auth(tenant))
    ).json()
    assert first["status"] == "awaiting_approval", first
    action_id = first["approvals"][0]["action_id"]
    decided = await client.post(
        f"/api/v1/chat/{first['session_id']}/approvals/{action_id}",
        json={"decision": "reject"},
        headers=auth(tenant),
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "completed"
    assert decided.json()["text"] == "Understood, nothing changed."
    assert await sandbox.records(TABLE) == before
    last_tool = [
        m for m in fake_provider.recorder.requests[-1]["messages"] if m.get("role") == "tool"
    ][-1]
    assert "rejected" in str(last_tool["content"])
