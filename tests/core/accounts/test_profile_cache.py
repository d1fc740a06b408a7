"""``GET /api/v1/users/me`` is answered from a Redis cache: every change shows at once, and
a cache hit still checks the token's revocation."""

from __future__ import annotations

import httpx

from pyairtable_platform.core.config import CoreSettings
from tests.core.accounts.helpers import (
    PASSWORD,
    assert_error,
    bearer,
    login,
    outbox,
    register,
    token_from_link,
)
from tests.support.servers import ThreadServer


def _me(client: httpx.Client, token: str) -> dict[str, object]:
    response = client.get("/api/v1/users/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, object] = response.json()
    return body


def test_a_cached_profile_shows_a_name_change_at_once(client: httpx.Client) -> None:
    account = register(client, full_name="Ada")
    assert _me(client, account.access)["full_name"] == "Ada"  # now cached
    patched = client.patch(
        "/api/v1/users/me", json={"full_name": "Ada King"}, headers=account.headers
    )
    assert patched.status_code == 200, patched.text
    assert _me(client, account.access)["full_name"] == "Ada King"


def test_a_cached_profile_shows_a_new_login_and_a_verified_email(
    client: httpx.Client, core: tuple[ThreadServer, CoreSettings]
) -> None:
    account = register(client)
    first = _me(client, account.access)
    assert first["last_login_at"] is None
    assert first["email_verified"] is False
    assert login(client, account.email, PASSWORD).status_code == 200
    assert _me(client, account.access)["last_login_at"] is not None
    (mail,) = outbox(core[1].redis_url, account.email, "verify_email")
    token = token_from_link(mail["link"])
    assert client.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 204
    assert _me(client, account.access)["email_verified"] is True


def test_a_signed_out_token_is_refused_even_when_the_profile_is_cached(
    client: httpx.Client,
) -> None:
    account = register(client)
    _me(client, account.access)
    _me(client, account.access)  # a hit: no database read
    assert client.post("/api/v1/auth/logout", headers=account.headers).status_code == 204
    assert_error(client.get("/api/v1/users/me", headers=account.headers), 401)


def test_the_profile_needs_a_credential_and_refuses_a_bad_one(client: httpx.Client) -> None:
    assert_error(client.get("/api/v1/users/me"), 401)
    assert_error(client.get("/api/v1/users/me", headers=bearer("not-a-token")), 401)


def test_the_profile_answers_api_keys_too(client: httpx.Client) -> None:
    account = register(client, full_name="Key Holder")
    created = client.post(
        "/api/v1/api-keys", json={"name": "script", "scope": "read"}, headers=account.headers
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert _me(client, key)["full_name"] == "Key Holder"
    assert _me(client, key)["full_name"] == "Key Holder"
