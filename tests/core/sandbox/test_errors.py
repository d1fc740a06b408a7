"""Bad input gets Airtable's error, in Airtable's shape, with Airtable's status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pyairtable import Api

from tests.conftest import Infra
from tests.core.sandbox.conftest import Tenant, create_tenant, people_projects_base


@pytest.fixture
def client(sandbox_url: str, tenant: Tenant) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {tenant.token}"}
    with httpx.Client(base_url=sandbox_url, headers=headers, timeout=30) as c:
        yield c


@pytest.fixture
def base_id(api: Api, tenant: Tenant) -> str:
    return people_projects_base(api, tenant)


def _error(response: httpx.Response) -> tuple[int, Any]:
    return response.status_code, response.json()["error"]


def test_missing_or_wrong_token_is_401_authentication_required(sandbox_url: str) -> None:
    for headers in ({}, {"Authorization": "Bearer patWRONG00000000.nope"}):
        response = httpx.get(f"{sandbox_url}/v0/meta/whoami", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "AUTHENTICATION_REQUIRED"


def test_another_workspaces_base_is_invisible_403(
    client: httpx.Client, base_id: str, infra: Infra, sandbox_url: str
) -> None:
    other = create_tenant(infra.app_url)
    response = httpx.get(
        f"{sandbox_url}/v0/{base_id}/People", headers={"Authorization": f"Bearer {other.token}"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"
    assert client.get(f"/v0/{base_id}/People").status_code == 200


def test_unknown_table_record_and_route(client: httpx.Client, base_id: str) -> None:
    status, error = _error(client.get(f"/v0/{base_id}/Nope"))
    assert (status, error["type"]) == (404, "TABLE_NOT_FOUND")
    assert _error(client.get(f"/v0/{base_id}/People/rec00000000000000")) == (404, "NOT_FOUND")
    assert _error(client.get("/v1/whatever")) == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "status", "error_type"),
    [
        ({"fields": {"Nope": 1}}, 422, "UNKNOWN_FIELD_NAME"),
        ({"fields": {"Age": "old"}}, 422, "INVALID_VALUE_FOR_COLUMN"),
        ({"fields": {"Team": "Purple"}}, 422, "INVALID_MULTIPLE_CHOICE_OPTIONS"),
        ({"fields": {"Projects": ["rec00000000000000"]}}, 422, "ROW_DOES_NOT_EXIST"),
        ({"records": [{"fields": {}}] * 11}, 422, "INVALID_RECORDS"),
        ({"records": "x"}, 422, "INVALID_REQUEST_UNKNOWN"),
    ],
)
def test_bad_writes_get_airtables_error_types(
    client: httpx.Client, base_id: str, body: dict[str, Any], status: int, error_type: str
) -> None:
    got_status, error = _error(client.post(f"/v0/{base_id}/People", json=body))
    assert (got_status, error["type"]) == (status, error_type)
    assert error["message"]


def test_malformed_json_is_422_not_500(client: httpx.Client, base_id: str) -> None:
    response = client.post(
        f"/v0/{base_id}/People", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "INVALID_REQUEST_UNKNOWN"


def test_computed_fields_cannot_be_written(client: httpx.Client, base_id: str) -> None:
    client.post(
        f"/v0/meta/bases/{base_id}/tables/People/fields",
        json={"name": "Twice", "type": "formula", "options": {"formula": "{Age} * 2"}},
    )
    status, error = _error(client.post(f"/v0/{base_id}/People", json={"fields": {"Twice": 4}}))
    assert (status, error["type"]) == (422, "INVALID_VALUE_FOR_COLUMN")


@pytest.mark.parametrize(
    ("formula", "reason"),
    [
        ("{Nope} = 1", "Unknown field names: Nope"),
        ("FROBNICATE({Name})", "Unknown function FROBNICATE"),
        ("AND({Name}", ""),
    ],
)
def test_an_unusable_filter_is_422_with_the_reason(
    client: httpx.Client, base_id: str, formula: str, reason: str
) -> None:
    status, error = _error(client.get(f"/v0/{base_id}/People", params={"filterByFormula": formula}))
    assert (status, error["type"]) == (422, "INVALID_FILTER_BY_FORMULA")
    assert reason in error["message"]


def test_list_parameter_limits(client: httpx.Client, base_id: str) -> None:
    status, error = _error(client.get(f"/v0/{base_id}/People", params={"pageSize": 101}))
    assert status == 422
    status, error = _error(client.get(f"/v0/{base_id}/People", params={"offset": "garbage"}))
    assert (status, error["type"]) == (422, "INVALID_OFFSET_VALUE")
    status, error = _error(client.get(f"/v0/{base_id}/People", params={"fields[]": "Nope"}))
    assert (status, error["type"]) == (422, "UNKNOWN_FIELD_NAME")
    status, error = _error(client.get(f"/v0/{base_id}/People", params={"view": "Nope"}))
    assert (status, error["type"]) == (422, "VIEW_NAME_NOT_FOUND")


def test_urls_over_16k_characters_are_refused(client: httpx.Client, base_id: str) -> None:
    response = client.get(f"/v0/{base_id}/People", params={"filterByFormula": "x" * 16_100})
    assert response.status_code == 414
    assert response.json()["error"]["type"] == "URL_TOO_LONG"
