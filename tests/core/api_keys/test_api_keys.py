"""API keys over HTTP: created once, hashed at rest, scoped, revocable within one request."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import httpx
import psycopg
import redis

from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.kit.auth import api_key_cache_key
from tests.conftest import Infra
from tests.core.accounts.helpers import assert_error, bearer, register
from tests.support.servers import ThreadServer


def _create(client: httpx.Client, headers: dict[str, str], scope: str = "read") -> dict:
    response = client.post(
        "/api/v1/api-keys", json={"name": f"{scope} key", "scope": scope}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_created_key_is_shown_once_and_stored_only_hashed(
    client: httpx.Client, infra: Infra
) -> None:
    account = register(client)
    created = _create(client, account.headers, "write")
    key = created["key"]
    prefix, secret = key[4:12], key[13:]
    assert key.startswith(f"pap_{created['prefix']}_")
    assert prefix == created["prefix"]
    assert len(secret) >= 32
    listed = client.get("/api/v1/api-keys", headers=account.headers).json()
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]
    with psycopg.connect(infra.superuser_url.rsplit("/", 1)[0] + "/" + infra.database) as conn:
        row = conn.execute(
            "SELECT prefix, key_hash FROM api_keys WHERE id = %s", (created["id"],)
        ).fetchone()
    assert row == (prefix, hashlib.sha256(key.encode()).hexdigest())


def test_key_authenticates_as_its_user_workspace_and_scope(client: httpx.Client) -> None:
    account = register(client)
    created = _create(client, account.headers, "read")
    for headers in (bearer(created["key"]), {"X-API-Key": created["key"]}):
        me = client.get("/api/v1/auth/whoami", headers=headers).json()
        assert me["kind"] == "api_key"
        assert me["scope"] == "read"
        assert me["user_id"] == str(account.user_id)
        assert me["workspace_id"] == str(account.workspace_id)
        assert me["api_key_id"] == created["id"]
        assert me["role"] == "owner"


def test_revoked_key_fails_on_the_very_next_request(
    core: tuple[ThreadServer, CoreSettings], client: httpx.Client
) -> None:
    account = register(client)
    created = _create(client, account.headers, "write")
    headers = bearer(created["key"])
    assert client.get("/api/v1/auth/whoami", headers=headers).status_code == 200
    # The answer is cached for the gateway now; revocation must beat the cache.
    r = redis.Redis.from_url(core[1].redis_url)
    cache_key = api_key_cache_key(hashlib.sha256(created["key"].encode()).hexdigest())
    assert r.get(cache_key) not in (None, b"revoked")
    revoke = client.delete(f"/api/v1/api-keys/{created['id']}", headers=account.headers)
    assert revoke.status_code == 204, revoke.text
    assert r.get(cache_key) == b"revoked"
    r.close()
    assert_error(client.get("/api/v1/auth/whoami", headers=headers), 401)
    assert client.get("/api/v1/api-keys", headers=account.headers).json() == []
    # Revoking twice: the key no longer exists for this endpoint.
    assert_error(client.delete(f"/api/v1/api-keys/{created['id']}", headers=account.headers), 404)


def test_last_used_at_is_recorded(client: httpx.Client) -> None:
    account = register(client)
    created = _create(client, account.headers)
    assert created["last_used_at"] is None
    client.get("/api/v1/auth/whoami", headers=bearer(created["key"]))
    listed = client.get("/api/v1/api-keys", headers=account.headers).json()
    assert listed[0]["last_used_at"] is not None


def test_api_keys_cannot_mint_keys_or_touch_other_workspaces(client: httpx.Client) -> None:
    account = register(client)
    key = _create(client, account.headers, "write")["key"]
    minted = client.post(
        "/api/v1/api-keys", json={"name": "x", "scope": "read"}, headers=bearer(key)
    )
    assert "signed-in session" in assert_error(minted, 403)["detail"]
    other = client.post("/api/v1/workspaces", json={"name": "Second"}, headers=account.headers)
    assert_error(
        client.post("/api/v1/workspaces", json={"name": "Third"}, headers=bearer(key)), 403
    )
    second_id = other.json()["id"]
    assert_error(client.get(f"/api/v1/workspaces/{second_id}", headers=bearer(key)), 404)
    assert (
        client.get(f"/api/v1/workspaces/{account.workspace_id}", headers=bearer(key)).status_code
        == 200
    )
    assert [w["id"] for w in client.get("/api/v1/workspaces", headers=bearer(key)).json()] == [
        str(account.workspace_id)
    ]


def test_read_key_cannot_write(client: httpx.Client) -> None:
    account = register(client)
    key = _create(client, account.headers, "read")["key"]
    rename = client.patch(
        f"/api/v1/workspaces/{account.workspace_id}", json={"name": "Renamed"}, headers=bearer(key)
    )
    assert "scope" in assert_error(rename, 403)["detail"]
    write_key = _create(client, account.headers, "write")["key"]
    assert (
        client.patch(
            f"/api/v1/workspaces/{account.workspace_id}",
            json={"name": "Renamed"},
            headers=bearer(write_key),
        ).status_code
        == 200
    )


def test_bad_bodies_are_422_and_unknown_ids_404(client: httpx.Client) -> None:
    account = register(client)
    assert_error(
        client.post(
            "/api/v1/api-keys", json={"name": "x", "scope": "admin"}, headers=account.headers
        ),
        422,
    )
    assert_error(
        client.post("/api/v1/api-keys", json={"scope": "read"}, headers=account.headers), 422
    )
    assert_error(client.delete(f"/api/v1/api-keys/{uuid.uuid4()}", headers=account.headers), 404)
    assert_error(client.delete("/api/v1/api-keys/not-a-uuid", headers=account.headers), 422)


def test_another_users_key_in_another_workspace_is_404(client: httpx.Client) -> None:
    alice, bob = register(client), register(client)
    key_id = _create(client, alice.headers)["id"]
    assert_error(client.delete(f"/api/v1/api-keys/{key_id}", headers=bob.headers), 404)
    assert len(client.get("/api/v1/api-keys", headers=alice.headers).json()) == 1


def test_expired_keys_do_not_authenticate(client: httpx.Client, infra: Infra) -> None:
    account = register(client)
    created = client.post(
        "/api/v1/api-keys",
        json={"name": "short", "scope": "read", "expires_at": "2999-01-01T00:00:00Z"},
        headers=account.headers,
    ).json()
    past = client.post(
        "/api/v1/api-keys",
        json={"name": "past", "scope": "read", "expires_at": "2001-01-01T00:00:00Z"},
        headers=account.headers,
    )
    assert_error(past, 400)
    with psycopg.connect(infra.superuser_url.rsplit("/", 1)[0] + "/" + infra.database) as conn:
        conn.execute(
            "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = %s",
            (created["id"],),
        )
    assert_error(client.get("/api/v1/auth/whoami", headers=bearer(created["key"])), 401)


def test_kit_resolver_follows_core_and_sees_revocation_at_once(
    core: tuple[ThreadServer, CoreSettings], client: httpx.Client
) -> None:
    from pyairtable_platform.kit.auth import resolve_api_key
    from pyairtable_platform.kit.errors import Unauthorized

    account = register(client)
    created = _create(client, account.headers, "write")
    server, settings = core

    async def scenario() -> tuple[object, object, str | None]:
        r = redis.asyncio.Redis.from_url(settings.redis_url)
        async with httpx.AsyncClient() as http:
            first = await resolve_api_key(created["key"], r, http, server.url)
            second = await resolve_api_key(created["key"], r, http, server.url)
            revoke = await http.delete(
                f"{server.url}/api/v1/api-keys/{created['id']}", headers=account.headers
            )
            assert revoke.status_code == 204
            try:
                await resolve_api_key(created["key"], r, http, server.url)
                outcome = None
            except Unauthorized as exc:
                outcome = exc.detail
        await r.aclose()
        return first, second, outcome

    first, second, outcome = asyncio.run(scenario())
    assert first == second
    assert first.api_key_id == uuid.UUID(created["id"])
    assert first.scope == "write"
    assert outcome == "invalid API key"
