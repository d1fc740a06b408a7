"""Query monitoring: pg_stat_statements through the SECURITY DEFINER function, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import Infra
from tests.core.accounts.helpers import bearer, core_server, register, switch
from tests.data.conftest import Database


@pytest.fixture(scope="module")
def client(infra: Infra) -> Iterator[httpx.Client]:
    with core_server(infra) as (server, _), httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def _slow_statements(db: Database) -> None:
    with psycopg.connect(db.app_url) as conn:
        for _ in range(3):
            conn.execute("SELECT pg_sleep(0.02), 'monitoring-probe'")
        conn.execute("SELECT count(*) FROM generate_series(1, 1000)")


def test_a_workspace_owner_reads_the_top_statements_by_total_and_mean_time(
    client: httpx.Client, native_db: Database
) -> None:
    _slow_statements(native_db)
    owner = register(client)
    response = client.get(
        "/api/v1/admin/query-stats", params={"order": "total", "limit": 50}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["order"] == "total"
    assert body["limit"] == 50
    totals = [q["total_exec_ms"] for q in body["queries"]]
    assert totals == sorted(totals, reverse=True)
    assert 0 < len(totals) <= 50
    assert any("pg_sleep" in q["query"] for q in body["queries"]), "query texts are visible"

    by_mean = client.get(
        "/api/v1/admin/query-stats", params={"order": "mean", "limit": 5}, headers=owner.headers
    ).json()
    means = [q["mean_exec_ms"] for q in by_mean["queries"]]
    assert means == sorted(means, reverse=True)
    assert len(means) <= 5


def test_a_plain_member_is_refused(client: httpx.Client, native_db: Database) -> None:
    owner, member = register(client), register(client)
    with psycopg.connect(native_db.superuser_url, autocommit=True) as su:
        su.execute(
            "INSERT INTO workspace_members (workspace_id, user_id, role) VALUES (%s, %s, 'member')",
            (owner.workspace_id, member.user_id),
        )
    token = switch(client, member, owner.workspace_id)
    response = client.get("/api/v1/admin/query-stats", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert "owners and admins" in response.json()["detail"]


@pytest.mark.parametrize("params", [{"order": "median"}, {"limit": 0}, {"limit": 501}])
def test_bad_parameters_get_a_validation_error(
    client: httpx.Client, params: dict[str, Any]
) -> None:
    owner = register(client)
    response = client.get("/api/v1/admin/query-stats", params=params, headers=owner.headers)
    assert response.status_code == 422
    assert set(response.json()) >= {"error", "detail", "request_id"}


def test_without_credentials_the_endpoint_is_closed(client: httpx.Client) -> None:
    response = client.get("/api/v1/admin/query-stats")
    assert response.status_code == 401
