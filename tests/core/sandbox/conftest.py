"""Sandbox fixtures: core as a real HTTP server and fresh workspaces with sandbox tokens.

pyairtable is synchronous, so the conformance tests are plain sync tests driving it
against the server running in its own thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from pyairtable import Api

from pyairtable_platform.core.app import create_app
from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.core.sandbox.ids import new_id
from pyairtable_platform.core.sandbox.tokens import hash_token
from pyairtable_platform.kit.security import random_token
from tests.conftest import Infra
from tests.support.servers import ThreadServer


@dataclass(frozen=True)
class Tenant:
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    token: str


def create_tenant(app_url: str) -> Tenant:
    """A user owning a new workspace, and a sandbox token for it (written under RLS)."""
    user_id, workspace_id = uuid.uuid4(), uuid.uuid4()
    token = f"{new_id('pat')}.{random_token(32)}"
    with psycopg.connect(app_url) as conn:
        conn.execute(
            "SELECT set_config('app.current_user_id', %s, true),"
            " set_config('app.current_workspace_id', %s, true)",
            (str(user_id), str(workspace_id)),
        )
        conn.execute(
            "INSERT INTO users (id, email, password_hash) VALUES (%s, %s, 'x')",
            (user_id, f"sbx-{user_id.hex[:10]}@example.com"),
        )
        conn.execute(
            "INSERT INTO workspaces (id, name, slug, created_by) VALUES (%s, %s, %s, %s)",
            (workspace_id, "Sandbox test", f"sbx-{workspace_id.hex[:12]}", user_id),
        )
        conn.execute(
            "INSERT INTO workspace_members (workspace_id, user_id, role) VALUES (%s, %s, 'owner')",
            (workspace_id, user_id),
        )
        conn.execute(
            "INSERT INTO sandbox.tokens (workspace_id, user_id, airtable_user_id, name, token_hash)"
            " VALUES (%s, %s, %s, 'Test token', %s)",
            (workspace_id, user_id, new_id("usr"), hash_token(token)),
        )
    return Tenant(workspace_id, user_id, token)


@pytest.fixture(scope="session")
def sandbox_url(service_env: dict[str, str]) -> Iterator[str]:
    """Core with the sandbox's rate limits off (tests of limits use ``limited_url``)."""
    server = ThreadServer(create_app(CoreSettings(sandbox_rate_limit_enabled=False))).start()
    yield server.url + "/sandbox"
    server.stop()


@pytest.fixture(scope="session")
def limited_url(service_env: dict[str, str]) -> Iterator[str]:
    """Core with the sandbox's default limits: 5 requests/s per base, 50/s per token."""
    server = ThreadServer(create_app(CoreSettings())).start()
    yield server.url + "/sandbox"
    server.stop()


@pytest.fixture
def tenant(infra: Infra) -> Tenant:
    return create_tenant(infra.app_url)


@pytest.fixture
def api(sandbox_url: str, tenant: Tenant) -> Api:
    return Api(tenant.token, endpoint_url=sandbox_url, timeout=(5, 30))


BaseFactory = Callable[..., str]


def people_projects_base(api: Api, tenant: Tenant, name: str = "Conformance") -> str:
    """A base with People and Projects, linked both ways, and computed fields."""
    base = api.create_base(
        str(tenant.workspace_id),
        name,
        [
            {
                "name": "People",
                "fields": [
                    {"name": "Name", "type": "singleLineText"},
                    {"name": "Email", "type": "email"},
                    {"name": "Age", "type": "number", "options": {"precision": 0}},
                    {
                        "name": "Active",
                        "type": "checkbox",
                        "options": {"color": "greenBright", "icon": "check"},
                    },
                    {
                        "name": "Team",
                        "type": "singleSelect",
                        "options": {"choices": [{"name": "Red"}, {"name": "Blue"}]},
                    },
                    {
                        "name": "Skills",
                        "type": "multipleSelects",
                        "options": {"choices": [{"name": "python"}, {"name": "sql"}]},
                    },
                    {
                        "name": "Born",
                        "type": "date",
                        "options": {"dateFormat": {"name": "iso", "format": "YYYY-MM-DD"}},
                    },
                    {"name": "Photo", "type": "multipleAttachments"},
                ],
            },
            {
                "name": "Projects",
                "fields": [
                    {"name": "Title", "type": "singleLineText"},
                    {
                        "name": "Budget",
                        "type": "currency",
                        "options": {"precision": 2, "symbol": "$"},
                    },
                    {"name": "Deadline", "type": "dateTime"},
                ],
            },
        ],
    )
    projects = base.table("Projects")
    people_id = base.schema().table("People").id
    projects.create_field("Members", "multipleRecordLinks", options={"linkedTableId": people_id})
    return base.id
