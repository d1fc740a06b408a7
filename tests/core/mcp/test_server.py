"""The MCP endpoint itself: authentication, the tool list, scopes, transport security."""

from __future__ import annotations

import httpx

from tests.core.mcp.conftest import Servers, Tenant, error_text, mcp_client, payload

TOOLS = {
    "list_bases": "read",
    "list_tables": "read",
    "describe_table": "read",
    "list_records": "read",
    "get_record": "read",
    "search_records": "read",
    "aggregate_records": "read",
    "analyze_table_data": "read",
    "find_duplicates": "read",
    "export_table_csv": "write",
    "create_records": "write",
    "update_records": "destructive",
    "upsert_records": "destructive",
    "delete_records": "destructive",
    "create_table": "write",
    "update_table": "destructive",
    "create_field": "write",
    "update_field": "destructive",
    "create_comment": "write",
    "list_comments": "read",
    "create_metadata_table": "write",
    "sync_tables": "destructive",
    "preview_changes": "write",
    "apply_action": "destructive",
    "revert_action": "destructive",
    "list_actions": "read",
}

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


async def test_the_tool_list_has_every_tool_with_annotations_and_descriptions(
    servers: Servers, tenant: Tenant
) -> None:
    async with mcp_client(servers.core.url + "/mcp", tenant.read_key) as client:
        assert "list_bases" in (client.instructions or "")
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(TOOLS) <= set(tools), sorted(set(TOOLS) - set(tools))
    for name, kind in TOOLS.items():
        tool = tools[name]
        assert tool.description, name
        assert len(tool.description) > 40, name
        assert tool.annotations is not None, name
        assert tool.annotations.read_only_hint is (kind == "read"), name
        if kind == "destructive":
            assert tool.annotations.destructive_hint is True, name
    assert tools["list_records"].input_schema["properties"]["formula"]


async def test_a_request_without_a_credential_is_401_with_www_authenticate(
    servers: Servers,
) -> None:
    async with httpx.AsyncClient(base_url=servers.core.url) as http:
        answer = await http.post("/mcp", json=INIT, headers=ACCEPT)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["error"] == "unauthorized"
    assert answer.json()["request_id"]


async def test_a_wrong_api_key_or_token_is_401(servers: Servers) -> None:
    async with httpx.AsyncClient(base_url=servers.core.url) as http:
        for bearer in ("pap_abcdefgh_" + "x" * 43, "not-a-jwt"):
            answer = await http.post(
                "/mcp", json=INIT, headers={**ACCEPT, "Authorization": f"Bearer {bearer}"}
            )
            assert answer.status_code == 401, bearer
            assert answer.headers["www-authenticate"] == "Bearer"


async def test_an_access_token_works_as_well_as_an_api_key(
    servers: Servers, tenant: Tenant
) -> None:
    async with mcp_client(servers.core.url + "/mcp", tenant.access_token) as client:
        answer = payload(await client.call_tool("list_actions", {}))
    assert answer["actions"] == [] or isinstance(answer["actions"], list)
    assert "truncated" in answer


async def test_a_foreign_host_header_is_refused(servers: Servers, tenant: Tenant) -> None:
    async with httpx.AsyncClient(base_url=servers.core.url) as http:
        answer = await http.post(
            "/mcp",
            json=INIT,
            headers={
                **ACCEPT,
                "Host": "evil.example",
                "Authorization": f"Bearer {tenant.read_key}",
            },
        )
    assert answer.status_code == 421


async def test_a_read_scoped_key_cannot_call_write_tools(servers: Servers, tenant: Tenant) -> None:
    async with mcp_client(servers.core.url + "/mcp", tenant.read_key) as client:
        for name, arguments in (
            (
                "create_records",
                {"base_id": tenant.base_id, "table": "Tasks", "records": [{"Name": "x"}]},
            ),
            (
                "delete_records",
                {"base_id": tenant.base_id, "table": "Tasks", "record_ids": ["rec00000000000000"]},
            ),
            ("revert_action", {"action_id": "00000000-0000-0000-0000-000000000000"}),
        ):
            message = error_text(await client.call_tool(name, arguments))
            assert "read-only" in message, (name, message)
            assert "scope 'write'" in message


async def test_unknown_action_ids_are_tool_errors_naming_list_actions(
    servers: Servers, tenant: Tenant
) -> None:
    async with mcp_client(servers.core.url + "/mcp", tenant.write_key) as client:
        message = error_text(
            await client.call_tool(
                "revert_action", {"action_id": "00000000-0000-0000-0000-000000000000"}
            )
        )
    assert "action_not_found" in message
    assert "list_actions" in message
