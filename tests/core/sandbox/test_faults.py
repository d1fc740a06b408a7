"""Fault injection through ``/sandbox/_faults``: statuses, dropped connections, scope."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import requests
from pyairtable import Api

from tests.core.sandbox.conftest import Tenant, people_projects_base


@pytest.fixture
def client(sandbox_url: str, tenant: Tenant) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {tenant.token}"}
    with httpx.Client(base_url=sandbox_url, headers=headers, timeout=30) as c:
        yield c


def test_a_status_fault_hits_the_next_n_requests_then_clears(
    client: httpx.Client, api: Api, tenant: Tenant
) -> None:
    base_id = people_projects_base(api, tenant)
    set_fault = client.post("/_faults", json={"scope": "token", "status": 503, "count": 2})
    assert set_fault.status_code == 200
    statuses = [client.get(f"/v0/{base_id}/People").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_a_base_fault_leaves_other_bases_alone(
    client: httpx.Client, api: Api, tenant: Tenant
) -> None:
    faulty = people_projects_base(api, tenant, name="Faulty")
    healthy = people_projects_base(api, tenant, name="Healthy")
    client.post("/_faults", json={"scope": "base", "baseId": faulty, "status": 500})
    assert client.get(f"/v0/{faulty}/People").status_code == 500
    assert client.get(f"/v0/{healthy}/People").status_code == 200
    client.delete("/_faults", params={"baseId": faulty})
    assert client.get(f"/v0/{faulty}/People").status_code == 200


def test_a_dropped_connection_reaches_the_client_as_a_connection_error(
    client: httpx.Client, api: Api, tenant: Tenant, sandbox_url: str
) -> None:
    base_id = people_projects_base(api, tenant)
    client.post("/_faults", json={"scope": "token", "drop": True, "count": 1, "latencyMs": 50})
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(
            f"{sandbox_url}/v0/{base_id}/People",
            headers={"Authorization": f"Bearer {tenant.token}"},
            timeout=10,
        )
    assert client.get(f"/v0/{base_id}/People").status_code == 200
    # urllib3's retry (inside pyairtable) retries a dropped idempotent GET.
    client.post("/_faults", json={"scope": "token", "drop": True, "count": 1})
    assert api.table(base_id, "People").all() == []


def test_a_429_fault_is_retried_by_pyairtable(
    client: httpx.Client, api: Api, tenant: Tenant
) -> None:
    base_id = people_projects_base(api, tenant)
    client.post("/_faults", json={"scope": "token", "status": 429, "count": 2})
    assert api.table(base_id, "People").all() == []


def test_faults_validate_their_input(client: httpx.Client) -> None:
    response = client.post("/_faults", json={"scope": "token", "status": 418})
    assert response.status_code == 422
    response = client.post("/_faults", json={"scope": "base", "baseId": "app00000000000000"})
    assert response.status_code == 403
