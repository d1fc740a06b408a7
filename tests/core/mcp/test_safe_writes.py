"""Preview → apply → revert through MCP, each leaving the sandbox as it was; a revert refused
after a concurrent change; the audit trail and the REST action log holding every step."""

from __future__ import annotations

from typing import Any

import httpx

from tests.core.mcp.conftest import Sandbox, Servers, Tenant, error_text, mcp_client, payload

# Computed by Airtable on every change (or on creation): never equal after a round trip.
VOLATILE = {"Updated", "Created", "ID"}


def stable(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {rid: {k: v for k, v in f.items() if k not in VOLATILE} for rid, f in records.items()}


def remap(records: dict[str, dict[str, Any]], mapping: dict[str, str]) -> dict[str, dict[str, Any]]:
    def swap(value: Any) -> Any:
        if isinstance(value, list) and value and isinstance(value[0], dict):
            # A re-created attachment is the same file under a new attachment id (as on Airtable).
            return [{k: v for k, v in item.items() if k != "id"} for item in value]
        if isinstance(value, list):
            return sorted(mapping.get(v, v) if isinstance(v, str) else v for v in value)
        return value

    return {
        mapping.get(rid, rid): {k: swap(v) for k, v in fields.items()}
        for rid, fields in records.items()
    }


def normal(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return remap(stable(records), {})


def differences(left: dict[str, dict[str, Any]], right: dict[str, dict[str, Any]]) -> list[str]:
    """Field-level differences of two table snapshots (empty when they are the same)."""
    found = [f"{rid}: only on one side" for rid in set(left) ^ set(right)]
    for rid in set(left) & set(right):
        for name in set(left[rid]) | set(right[rid]):
            if left[rid].get(name) != right[rid].get(name):
                found.append(f"{rid}.{name}: {left[rid].get(name)!r} != {right[rid].get(name)!r}")
    return found


async def actions_log(servers: Servers, tenant: Tenant, action_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=servers.core.url) as http:
        answer = await http.get(
            f"/api/v1/actions/{action_id}",
            headers={"Authorization": f"Bearer {tenant.access_token}"},
        )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_preview_apply_revert_of_an_update_restores_the_table(
    servers: Servers, tenant: Tenant, sandbox: Sandbox
) -> None:
    before = await sandbox.records("Tasks")
    target = next(rid for rid, f in before.items() if f.get("Status") != "Done")
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        preview = payload(
            await mcp.call_tool(
                "update_records",
                {
                    "base_id": tenant.base_id,
                    "table": "Tasks",
                    "records": [{"id": target, "fields": {"Status": "Done", "Priority": "Low"}}],
                    "preview": True,
                },
            )
        )
        assert preview["status"] == "previewed"
        assert "→ 'Done'" in preview["summary"]
        assert preview["diff"][0]["changes"]["Status"]["after"] == "Done"
        assert normal(await sandbox.records("Tasks")) == normal(before)  # nothing written yet

        wrong = error_text(
            await mcp.call_tool(
                "apply_action", {"action_id": preview["action_id"], "approval_token": "apv_nope"}
            )
        )
        assert "approval token" in wrong
        applied = payload(
            await mcp.call_tool(
                "apply_action",
                {"action_id": preview["action_id"], "approval_token": preview["approval_token"]},
            )
        )
        assert applied["status"] == "done"
        assert (await sandbox.records("Tasks"))[target]["Status"] == "Done"
        again = error_text(
            await mcp.call_tool(
                "apply_action",
                {"action_id": preview["action_id"], "approval_token": preview["approval_token"]},
            )
        )
        assert "not waiting for approval" in again

        reverted = payload(
            await mcp.call_tool("revert_action", {"action_id": preview["action_id"]})
        )
        assert reverted["status"] == "done"
        assert reverted["original_status"] == "reverted"
    assert normal(await sandbox.records("Tasks")) == normal(before)

    detail = await actions_log(servers, tenant, preview["action_id"])
    assert detail["channel"] == "mcp"
    assert detail["status"] == "reverted"
    steps = [(row["operation"], row["status"]) for row in detail["audit"]]
    assert steps == [
        ("INSERT", "previewed"),
        ("UPDATE", "approved"),
        ("UPDATE", "running"),
        ("UPDATE", "running"),
        ("UPDATE", "done"),
        ("UPDATE", "reverted"),
    ] or [s for s in steps if s[1] != "running"] == [
        ("INSERT", "previewed"),
        ("UPDATE", "approved"),
        ("UPDATE", "done"),
        ("UPDATE", "reverted"),
    ]
    assert {row["actor_user_id"] for row in detail["audit"]} == {str(tenant.user_id)}


async def test_preview_apply_revert_of_a_delete_recreates_records_and_links(
    servers: Servers, tenant: Tenant, sandbox: Sandbox
) -> None:
    tasks_before = await sandbox.records("Tasks")
    team_before = await sandbox.records("Team")
    victims = [rid for rid, f in tasks_before.items() if f.get("Assignee")][:2]
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        preview = payload(
            await mcp.call_tool(
                "preview_changes",
                {
                    "operation": "delete",
                    "base_id": tenant.base_id,
                    "table": "Tasks",
                    "record_ids": victims,
                },
            )
        )
        assert preview["summary"].startswith("Delete 2 records from Tasks")
        payload(
            await mcp.call_tool(
                "apply_action",
                {"action_id": preview["action_id"], "approval_token": preview["approval_token"]},
            )
        )
        assert not set(victims) & set(await sandbox.records("Tasks"))
        reverted = payload(
            await mcp.call_tool("revert_action", {"action_id": preview["action_id"]})
        )
    mapping = reverted["result"]["mapping"]
    assert set(mapping) == set(victims)
    assert reverted["result"]["links_dropped"] == []
    tasks_after = normal(await sandbox.records("Tasks"))
    assert differences(tasks_after, remap(stable(tasks_before), mapping)) == []
    team_after = normal(await sandbox.records("Team"))
    assert differences(team_after, remap(stable(team_before), mapping)) == []


async def test_a_create_and_its_revert_leave_the_table_as_it_was(
    servers: Servers, tenant: Tenant, sandbox: Sandbox
) -> None:
    before = await sandbox.records("Feedback")
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        preview = payload(
            await mcp.call_tool(
                "create_records",
                {
                    "base_id": tenant.base_id,
                    "table": "Feedback",
                    "records": [
                        {"Summary": "Great launch", "Score": 9},
                        {"Summary": "Meh", "Score": 4},
                    ],
                    "preview": True,
                },
            )
        )
        assert preview["summary"].startswith("Create 2 records in Feedback")
        applied = payload(
            await mcp.call_tool(
                "apply_action",
                {"action_id": preview["action_id"], "approval_token": preview["approval_token"]},
            )
        )
        created = [r["id"] for r in applied["records"]]
        assert len(created) == 2
        assert set(created) <= set(await sandbox.records("Feedback"))
        payload(await mcp.call_tool("revert_action", {"action_id": preview["action_id"]}))
    assert normal(await sandbox.records("Feedback")) == normal(before)


async def test_a_revert_is_refused_when_the_record_changed_since(
    servers: Servers, tenant: Tenant, sandbox: Sandbox
) -> None:
    before = await sandbox.records("Deals")
    target = next(iter(before))
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        done = payload(
            await mcp.call_tool(
                "update_records",
                {
                    "base_id": tenant.base_id,
                    "table": "Deals",
                    "records": [{"id": target, "fields": {"Deal": "Renamed by the model"}}],
                },
            )
        )
        assert done["status"] == "done"
        await sandbox.update("Deals", target, {"Deal": "Renamed by a person"})
        message = error_text(await mcp.call_tool("revert_action", {"action_id": done["action_id"]}))
        assert "revert_refused" in message
        assert target in message
        assert "Deal" in message
        listed = payload(await mcp.call_tool("list_actions", {"record_id": target}))
    assert (await sandbox.records("Deals"))[target]["Deal"] == "Renamed by a person"
    assert listed["actions"][0]["status"] == "done"
    await sandbox.update("Deals", target, {"Deal": before[target]["Deal"]})


async def test_the_rest_action_log_lists_mcp_writes(servers: Servers, tenant: Tenant) -> None:
    async with httpx.AsyncClient(base_url=servers.core.url) as http:
        answer = await http.get(
            "/api/v1/actions",
            params={"channel": "mcp", "limit": 200},
            headers={"Authorization": f"Bearer {tenant.access_token}"},
        )
    assert answer.status_code == 200
    actions = answer.json()["actions"]
    assert actions
    assert all(a["channel"] == "mcp" for a in actions)
    assert {a["operation"] for a in actions} >= {"update", "revert"}
