"""Write tools beyond records: tables, fields, comments, upsert, the metadata table, syncing
tables, and a workspace that requires a preview for destructive writes."""

from __future__ import annotations

import secrets

from sqlalchemy import text

from pyairtable_platform.devinfra.throwaway import Infra
from pyairtable_platform.kit.db import create_engine, create_session_factory, unit_of_work
from tests.core.mcp.conftest import Sandbox, Servers, Tenant, error_text, mcp_client, payload


async def test_tables_fields_and_comments(
    servers: Servers, tenant: Tenant, sandbox: Sandbox
) -> None:
    name = f"Notes {secrets.token_hex(3)}"
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        created = payload(
            await mcp.call_tool(
                "create_table",
                {
                    "base_id": tenant.base_id,
                    "name": name,
                    "fields": [{"name": "Title", "type": "singleLineText"}],
                },
            )
        )
        table_id = created["table"]["id"]
        field = payload(
            await mcp.call_tool(
                "create_field",
                {
                    "base_id": tenant.base_id,
                    "table": table_id,
                    "name": "Pages",
                    "type": "number",
                    "options": {"precision": 0},
                },
            )
        )
        assert field["field"]["name"] == "Pages"
        renamed = payload(
            await mcp.call_tool(
                "update_field",
                {
                    "base_id": tenant.base_id,
                    "table": table_id,
                    "field": "Pages",
                    "name": "Page count",
                },
            )
        )
        table = payload(
            await mcp.call_tool(
                "update_table",
                {"base_id": tenant.base_id, "table": table_id, "name": name + " (v2)"},
            )
        )
        described = payload(
            await mcp.call_tool("describe_table", {"base_id": tenant.base_id, "table": table_id})
        )
        assert described["name"] == name + " (v2)"
        assert [f["name"] for f in described["fields"]] == ["Title", "Page count"]
        payload(await mcp.call_tool("revert_action", {"action_id": table["action_id"]}))
        payload(await mcp.call_tool("revert_action", {"action_id": renamed["action_id"]}))
        described = payload(
            await mcp.call_tool("describe_table", {"base_id": tenant.base_id, "table": table_id})
        )
        assert described["name"] == name
        assert [f["name"] for f in described["fields"]] == ["Title", "Pages"]
        refused = error_text(
            await mcp.call_tool("revert_action", {"action_id": created["action_id"]})
        )
        assert "cannot delete tables" in refused

        task = next(iter(await sandbox.records("Tasks")))
        payload(
            await mcp.call_tool(
                "create_comment",
                {
                    "base_id": tenant.base_id,
                    "table": "Tasks",
                    "record_id": task,
                    "text": "Looks good",
                },
            )
        )
        comments = payload(
            await mcp.call_tool(
                "list_comments", {"base_id": tenant.base_id, "table": "Tasks", "record_id": task}
            )
        )
    assert comments["comments"][0]["text"] == "Looks good"


async def test_upsert_updates_matches_creates_the_rest_and_reverts(
    servers: Servers, tenant: Tenant, sandbox: Sandbox
) -> None:
    before = await sandbox.records("Team")
    existing_id, existing = next(iter(before.items()))
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        done = payload(
            await mcp.call_tool(
                "upsert_records",
                {
                    "base_id": tenant.base_id,
                    "table": "Team",
                    "merge_on": ["Email"],
                    "records": [
                        {"Email": existing["Email"], "Name": "Changed Name"},
                        {"Email": "new.person@example.com", "Name": "New Person"},
                    ],
                },
            )
        )
        assert done["updated_ids"] == [existing_id]
        assert len(done["created_ids"]) == 1
        after = await sandbox.records("Team")
        assert after[existing_id]["Name"] == "Changed Name"
        assert len(after) == len(before) + 1
        payload(await mcp.call_tool("revert_action", {"action_id": done["action_id"]}))
    restored = await sandbox.records("Team")
    assert set(restored) == set(before)
    assert restored[existing_id]["Name"] == existing["Name"]


async def test_create_metadata_table_and_sync_tables(
    servers: Servers, tenant: Tenant, sandbox: Sandbox
) -> None:
    name = f"Metadata {secrets.token_hex(3)}"
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as mcp:
        meta = payload(
            await mcp.call_tool(
                "create_metadata_table", {"base_id": tenant.base_id, "table_name": name}
            )
        )
        assert meta["table_created"]
        assert meta["records_created"] >= 5
        assert meta["purposes"]["Project/Task Management"] >= 1
        copy = payload(
            await mcp.call_tool(
                "create_table",
                {
                    "base_id": tenant.base_id,
                    "name": f"Team copy {secrets.token_hex(3)}",
                    "fields": [
                        {"name": "Name", "type": "singleLineText"},
                        {"name": "Email", "type": "email"},
                    ],
                },
            )
        )
        target = copy["table"]["id"]
        args = {
            "source_base_id": tenant.base_id,
            "source_table": "Team",
            "target_base_id": tenant.base_id,
            "target_table": target,
            "key_field": "Email",
        }
        plan = payload(await mcp.call_tool("sync_tables", args))
        assert plan["dry_run"]
        assert plan["creates"] == len(await sandbox.records("Team"))
        assert await sandbox.records(target) == {}
        ran = payload(await mcp.call_tool("sync_tables", {**args, "dry_run": False}))
        assert ran["action_ids"]["create"]
        copied = await sandbox.records(target)
        assert sorted(r["Email"] for r in copied.values()) == sorted(
            r["Email"] for r in (await sandbox.records("Team")).values()
        )
        again = payload(await mcp.call_tool("sync_tables", args))
    assert again["creates"] == again["updates"] == 0


async def test_a_workspace_can_require_a_preview_for_destructive_writes(
    servers: Servers, other_tenant: Tenant, infra: Infra
) -> None:
    engine = create_engine(infra.app_url, pool_size=1)
    try:
        factory = create_session_factory(engine)
        async with unit_of_work(
            factory, user_id=other_tenant.user_id, workspace_id=other_tenant.workspace_id
        ) as session:
            await session.execute(
                text(
                    "UPDATE workspaces SET settings = settings"
                    " || '{\"require_preview_for_destructive\": true}' WHERE id = :w"
                ),
                {"w": other_tenant.workspace_id},
            )
    finally:
        await engine.dispose()
    sandbox = Sandbox(servers.core.url, other_tenant)
    victim = next(iter(await sandbox.records("Feedback")))
    async with mcp_client(servers.core.url + "/mcp", other_tenant.write_key) as mcp:
        answer = payload(
            await mcp.call_tool(
                "delete_records",
                {"base_id": other_tenant.base_id, "table": "Feedback", "record_ids": [victim]},
            )
        )
        assert answer["status"] == "previewed"
        assert answer["preview_required"] is True
        assert victim in await sandbox.records("Feedback")
        payload(
            await mcp.call_tool(
                "apply_action",
                {"action_id": answer["action_id"], "approval_token": answer["approval_token"]},
            )
        )
    assert victim not in await sandbox.records("Feedback")
