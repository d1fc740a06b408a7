"""``/api/v1/actions`` and REST record writes as actions (channel "api")."""

from __future__ import annotations

import httpx

from tests.core.mcp.conftest import Sandbox, Servers, Tenant, mcp_client, payload


async def test_rest_writes_are_actions_that_can_be_listed_and_reverted(
    servers: Servers, tenant: Tenant, sandbox: Sandbox
) -> None:
    before = await sandbox.records("Customers")
    target = next(iter(before))
    auth = {"Authorization": f"Bearer {tenant.write_key}"}
    async with httpx.AsyncClient(base_url=servers.core.url, timeout=60) as http:
        patched = await http.patch(
            f"/api/v1/airtable/bases/{tenant.base_id}/tables/Customers/records",
            json={"records": [{"id": target, "fields": {"Notes": "changed over REST"}}]},
            headers=auth,
        )
        assert patched.status_code == 200, patched.text
        action_id = patched.headers["x-action-id"]
        listed = (await http.get("/api/v1/actions", params={"channel": "api"}, headers=auth)).json()
        assert action_id in [a["id"] for a in listed["actions"]]
        detail = (await http.get(f"/api/v1/actions/{action_id}", headers=auth)).json()
        assert detail["before"]["records"][target] == before[target]
        assert detail["after"]["records"][target]["Notes"] == "changed over REST"
        reverted = await http.post(f"/api/v1/actions/{action_id}/revert", headers=auth)
        assert reverted.status_code == 200, reverted.text
        assert reverted.json()["operation"] == "revert"
        again = await http.post(f"/api/v1/actions/{action_id}/revert", headers=auth)
        assert again.status_code == 409
        assert again.json()["error"] == "revert_refused"
    assert (await sandbox.records("Customers"))[target] == before[target]


async def test_a_preview_made_over_mcp_is_applied_over_rest(
    servers: Servers, tenant: Tenant, sandbox: Sandbox
) -> None:
    target = next(iter(await sandbox.records("Feedback")))
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        preview = payload(
            await mcp.call_tool(
                "update_records",
                {
                    "base_id": tenant.base_id,
                    "table": "Feedback",
                    "records": [{"id": target, "fields": {"Score": 7}}],
                    "preview": True,
                },
            )
        )
    auth = {"Authorization": f"Bearer {tenant.access_token}"}
    async with httpx.AsyncClient(base_url=servers.core.url, timeout=60) as http:
        url = f"/api/v1/actions/{preview['action_id']}/apply"
        wrong = await http.post(url, json={"approval_token": "apv_wrong"}, headers=auth)
        assert wrong.status_code == 403
        applied = await http.post(
            url, json={"approval_token": preview["approval_token"]}, headers=auth
        )
        assert applied.status_code == 200, applied.text
        assert applied.json()["status"] == "done"
        assert applied.json()["approved_by"] == str(tenant.user_id)
        missing = await http.get(
            "/api/v1/actions/00000000-0000-0000-0000-000000000000", headers=auth
        )
        assert missing.status_code == 404
        assert missing.json()["error"] == "action_not_found"
    assert (await sandbox.records("Feedback"))[target]["Score"] == 7
