"""Sign-in, tokens and API keys end to end through the gateway, against the real core on
real PostgreSQL and Redis."""

from __future__ import annotations

import secrets

import httpx

from tests.gateway.test_edge import _alg_none, _tamper


async def sign_up(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    email = f"gw-{secrets.token_hex(6)}@example.com"
    password = f"gateway-{secrets.token_urlsafe(12)}"
    registered = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, "full_name": "G W"}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return email, login.json()


async def test_register_login_and_call_a_protected_core_route_through_the_gateway(
    gateway_client: httpx.AsyncClient,
) -> None:
    email, tokens = await sign_up(gateway_client)
    assert tokens["token_type"] == "bearer"
    me = await gateway_client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["email"] == email
    assert me.headers["ratelimit-limit"]
    assert me.headers["x-content-type-options"] == "nosniff"


async def test_a_protected_core_route_without_a_token_is_401_at_the_gateway(
    gateway_client: httpx.AsyncClient,
) -> None:
    response = await gateway_client.get("/api/v1/users/me")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_tampered_and_unsigned_core_tokens_are_401_at_the_gateway(
    gateway_client: httpx.AsyncClient,
) -> None:
    _, tokens = await sign_up(gateway_client)
    for forged in (_tamper(tokens["access_token"]), _alg_none(tokens["access_token"])):
        response = await gateway_client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"}
        )
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"


async def test_a_revoked_api_key_fails_on_the_next_request(
    gateway_client: httpx.AsyncClient,
) -> None:
    _, tokens = await sign_up(gateway_client)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    created = await gateway_client.post(
        "/api/v1/api-keys", json={"name": "script", "scope": "read"}, headers=auth
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    with_key = {"Authorization": f"Bearer {key}"}
    before = await gateway_client.get("/api/v1/auth/whoami", headers=with_key)
    assert before.status_code == 200
    assert before.json()["kind"] == "api_key"
    revoked = await gateway_client.delete(f"/api/v1/api-keys/{created.json()['id']}", headers=auth)
    assert revoked.status_code == 204
    after = await gateway_client.get("/api/v1/auth/whoami", headers=with_key)
    assert after.status_code == 401
    assert after.json()["error"] == "unauthorized"
    header_key = await gateway_client.get("/api/v1/auth/whoami", headers={"X-API-Key": key})
    assert header_key.status_code == 401


async def test_the_jwks_is_public_through_the_gateway(gateway_client: httpx.AsyncClient) -> None:
    response = await gateway_client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json()["keys"][0]["kty"] == "OKP"


async def test_the_merged_reference_lists_cores_real_routes(
    gateway_client: httpx.AsyncClient,
) -> None:
    document = (await gateway_client.get("/api/openapi.json")).json()
    assert "x-unavailable-services" not in document
    assert "/api/v1/auth/login" in document["paths"]
    assert "/api/v1/users/me" in document["paths"]
    assert "/api/health" in document["paths"]
    assert "security" not in document["paths"]["/api/v1/auth/login"]["post"]
    assert document["paths"]["/api/v1/users/me"]["get"]["security"]


async def test_an_unknown_api_path_is_a_json_404_never_the_app_shell(
    gateway_client: httpx.AsyncClient,
) -> None:
    response = await gateway_client.get("/api/v2/anything", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    page = await gateway_client.get("/some/client/route", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
