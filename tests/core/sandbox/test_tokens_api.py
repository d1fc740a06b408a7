"""``POST /api/v1/sandbox/tokens``: a signed-in workspace owner/admin gets a sandbox token."""

from __future__ import annotations

import httpx
from pyairtable import Api

from tests.conftest import Infra
from tests.core.accounts.helpers import core_server, register


def test_a_workspace_owner_issues_a_token_that_pyairtable_can_use(infra: Infra) -> None:
    with core_server(infra) as (server, _), httpx.Client(base_url=server.url) as client:
        account = register(client)
        response = client.post(
            "/api/v1/sandbox/tokens", json={"name": "my script"}, headers=account.headers
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["name"] == "my script"
        assert body["workspace_id"] == str(account.workspace_id)
        assert body["endpoint_url"].endswith("/sandbox")

        api = Api(body["token"], endpoint_url=server.url + "/sandbox")
        assert api.whoami()["id"].startswith("usr")
        assert api.bases() == []

        anonymous = client.post("/api/v1/sandbox/tokens", json={})
        assert anonymous.status_code == 401
        assert {"error", "detail", "request_id"} <= set(anonymous.json())
