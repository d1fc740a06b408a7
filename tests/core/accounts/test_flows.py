"""Account flows end to end over HTTP against real PostgreSQL and Redis."""

from __future__ import annotations

import uuid

import httpx
import redis

from pyairtable_platform.core.config import CoreSettings
from tests.core.accounts.helpers import (
    PASSWORD,
    assert_error,
    bearer,
    client_ip,
    login,
    outbox,
    register,
    token_from_link,
    unique_email,
    whoami,
)
from tests.support.servers import ThreadServer


def test_register_creates_the_user_and_a_personal_workspace_they_own(client: httpx.Client) -> None:
    email = unique_email("reg")
    response = client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": "Ada Lovelace"},
    )
    assert response.status_code == 201, response.text
    pair = response.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 900
    me = whoami(client, pair["access_token"])
    assert me["email"] == email
    assert me["role"] == "owner"
    assert me["kind"] == "access_token"
    assert me["scope"] == "full"
    workspaces = client.get("/api/v1/workspaces", headers=bearer(pair["access_token"])).json()
    assert [w["id"] for w in workspaces] == [me["workspace_id"]]
    assert workspaces[0]["name"] == "Ada Lovelace's workspace"
    profile = client.get("/api/v1/users/me", headers=bearer(pair["access_token"])).json()
    assert profile["full_name"] == "Ada Lovelace"
    assert profile["email_verified"] is False


def test_register_refuses_short_common_and_duplicate(client: httpx.Client) -> None:
    email = unique_email("weak")
    short = client.post("/api/v1/auth/register", json={"email": email, "password": "short"})
    assert "at least 10" in assert_error(short, 422, "weak_password")["detail"]
    common = client.post("/api/v1/auth/register", json={"email": email, "password": "Password123"})
    assert "too common" in assert_error(common, 422, "weak_password")["detail"]
    same = client.post("/api/v1/auth/register", json={"email": email, "password": email})
    assert_error(same, 422, "weak_password")
    register(client, email)
    again = client.post(
        "/api/v1/auth/register", json={"email": email.upper(), "password": PASSWORD}
    )
    assert_error(again, 409, "email_taken")


def test_malformed_json_and_bad_emails_are_422_in_the_error_shape(client: httpx.Client) -> None:
    bad_json = client.post(
        "/api/v1/auth/login", content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert (
        assert_error(bad_json, 422, "validation_error")["detail"]
        == "request body is not valid JSON"
    )
    bad_email = client.post("/api/v1/auth/register", json={"email": "nope", "password": PASSWORD})
    assert_error(bad_email, 422, "validation_error")
    extra = client.post(
        "/api/v1/auth/login", json={"email": "a@b.co", "password": "x", "admin": True}
    )
    assert_error(extra, 422, "validation_error")


def test_login_answers_one_message_for_every_failure(client: httpx.Client) -> None:
    account = register(client)
    wrong_password = login(client, account.email, "not-the-password")
    unknown_email = login(client, unique_email("ghost"), PASSWORD)
    a = assert_error(wrong_password, 401, "unauthorized")
    b = assert_error(unknown_email, 401, "unauthorized")
    assert a["detail"] == b["detail"] == "invalid credentials"
    ok = login(client, account.email.upper(), PASSWORD)
    assert ok.status_code == 200, ok.text
    assert whoami(client, ok.json()["access_token"])["workspace_id"] == str(account.workspace_id)


def test_repeated_failures_lock_the_account_with_retry_after(client: httpx.Client) -> None:
    account = register(client)
    for _ in range(5):
        assert login(client, account.email, "wrong-password-1").status_code == 401
    # Locked now, even with the right password and from another address.
    locked = login(client, account.email, PASSWORD)
    assert_error(locked, 429, "rate_limited")
    assert int(locked.headers["Retry-After"]) >= 1
    other = register(client)
    assert login(client, other.email, PASSWORD).status_code == 200


def test_repeated_failures_from_one_address_lock_that_address(
    core: tuple[ThreadServer, CoreSettings], client: httpx.Client
) -> None:
    ip = client_ip()
    limit = core[1].login_max_failures_per_ip
    for _ in range(limit):
        assert login(client, unique_email("spray"), "whatever-pass", ip=ip).status_code == 401
    account = register(client)
    blocked = login(client, account.email, PASSWORD, ip=ip)
    assert_error(blocked, 429, "rate_limited")
    assert "Retry-After" in blocked.headers
    assert login(client, account.email, PASSWORD, ip=client_ip()).status_code == 200


def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.Client) -> None:
    account = register(client)
    first = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh})
    assert first.status_code == 200, first.text
    second_refresh = first.json()["refresh_token"]
    assert second_refresh != account.refresh
    assert whoami(client, first.json()["access_token"])["user_id"] == str(account.user_id)

    # The old token again: someone copied it. The whole session dies...
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh})
    assert "reuse" in assert_error(reuse, 401)["detail"]
    # ...including the newest token of that family, which was never used.
    after = client.post("/api/v1/auth/refresh", json={"refresh_token": second_refresh})
    assert_error(after, 401)
    # Other sessions of the same user are unaffected.
    other = login(client, account.email, PASSWORD)
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": other.json()["refresh_token"]}
        ).status_code
        == 200
    )


def test_unknown_refresh_token_is_401(client: httpx.Client) -> None:
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 43})
    assert_error(response, 401, "invalid_refresh_token")


def test_logout_ends_the_session_and_its_access_token(client: httpx.Client) -> None:
    account = register(client)
    response = client.post(
        "/api/v1/auth/logout", json={"refresh_token": account.refresh}, headers=account.headers
    )
    assert response.status_code == 204, response.text
    assert_error(client.get("/api/v1/users/me", headers=account.headers), 401)
    assert_error(client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh}), 401)


def test_logout_without_any_credential_is_401(client: httpx.Client) -> None:
    assert_error(client.post("/api/v1/auth/logout"), 401)


def test_profile_update(client: httpx.Client) -> None:
    account = register(client)
    response = client.patch(
        "/api/v1/users/me", json={"full_name": "Grace Hopper"}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "Grace Hopper"
    assert client.get("/api/v1/users/me", headers=account.headers).json()["full_name"] == (
        "Grace Hopper"
    )


def test_password_change_keeps_this_session_and_revokes_the_others(client: httpx.Client) -> None:
    account = register(client)
    other = login(client, account.email, PASSWORD).json()
    wrong = client.post(
        "/api/v1/users/me/password",
        json={"current_password": "nope-nope-nope", "new_password": "a-new-long-passphrase"},
        headers=account.headers,
    )
    assert_error(wrong, 403)
    weak = client.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "qwertyuiop"},
        headers=account.headers,
    )
    assert_error(weak, 422, "weak_password")
    ok = client.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "a-new-long-passphrase"},
        headers=account.headers,
    )
    assert ok.status_code == 204, ok.text
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh}).status_code
        == 200
    )
    assert_error(
        client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}), 401
    )
    assert login(client, account.email, PASSWORD).status_code == 401
    assert login(client, account.email, "a-new-long-passphrase").status_code == 200


def test_deactivation_revokes_tokens_sessions_and_api_keys_at_once(client: httpx.Client) -> None:
    account = register(client)
    key = client.post(
        "/api/v1/api-keys", json={"name": "script", "scope": "write"}, headers=account.headers
    ).json()["key"]
    assert client.get("/api/v1/auth/whoami", headers=bearer(key)).status_code == 200
    wrong = client.request(
        "DELETE", "/api/v1/users/me", json={"password": "wrong-password!"}, headers=account.headers
    )
    assert_error(wrong, 403)
    response = client.request(
        "DELETE", "/api/v1/users/me", json={"password": PASSWORD}, headers=account.headers
    )
    assert response.status_code == 204, response.text
    assert_error(client.get("/api/v1/users/me", headers=account.headers), 401)
    assert_error(client.get("/api/v1/auth/whoami", headers=bearer(key)), 401)
    assert_error(client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh}), 401)
    assert_error(login(client, account.email, PASSWORD), 401)


def test_email_verification_token_works_once(
    core: tuple[ThreadServer, CoreSettings], client: httpx.Client
) -> None:
    account = register(client)
    mails = outbox(core[1].redis_url, account.email, "verify_email")
    assert len(mails) == 1
    token = token_from_link(mails[0]["link"])
    assert client.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 204
    assert client.get("/api/v1/users/me", headers=account.headers).json()["email_verified"] is True
    again = client.post("/api/v1/auth/verify-email", json={"token": token})
    assert_error(again, 400, "invalid_token")
    assert_error(client.post("/api/v1/auth/verify-email", json={"token": "forged"}), 400)


def test_password_reset_flow_is_single_use_and_signs_out_everywhere(
    core: tuple[ThreadServer, CoreSettings], client: httpx.Client
) -> None:
    account = register(client)
    unknown = client.post(
        "/api/v1/auth/password-reset/request", json={"email": unique_email("nobody")}
    )
    known = client.post("/api/v1/auth/password-reset/request", json={"email": account.email})
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    mails = outbox(core[1].redis_url, account.email, "password_reset")
    assert len(mails) == 1
    token = token_from_link(mails[0]["link"])

    weak = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "new_password": "1234567890"}
    )
    assert_error(weak, 422, "weak_password")
    # A weak choice does not burn the token.
    ok = client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": "reset-to-something-new"},
    )
    assert ok.status_code == 204, ok.text
    used = client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": "and-once-more-please"},
    )
    assert_error(used, 400, "invalid_token")
    # Every existing session and access token is gone.
    assert_error(client.get("/api/v1/users/me", headers=account.headers), 401)
    assert_error(client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh}), 401)
    fresh = login(client, account.email, "reset-to-something-new")
    assert fresh.status_code == 200
    assert (
        client.get("/api/v1/users/me", headers=bearer(fresh.json()["access_token"])).json()[
            "email_verified"
        ]
        is True
    )


def test_requests_without_credentials_are_401_with_www_authenticate(client: httpx.Client) -> None:
    response = client.get("/api/v1/users/me")
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert_error(client.get("/api/v1/users/me", headers=bearer("pap_short")), 401)
    assert_error(
        client.get("/api/v1/workspaces", headers={"X-API-Key": "pap_zzzzzzzz_" + "a" * 40}), 401
    )


def test_jwks_publishes_the_ed25519_signing_key(client: httpx.Client) -> None:
    jwks = client.get("/.well-known/jwks.json").json()
    assert len(jwks["keys"]) == 1
    key = jwks["keys"][0]
    assert key["kty"] == "OKP"
    assert key["crv"] == "Ed25519"
    assert key["use"] == "sig"
    assert key["alg"] == "EdDSA"
    assert key["kid"]
    assert "d" not in key


def test_whoami_does_not_know_deleted_user_ids(
    core: tuple[ThreadServer, CoreSettings], client: httpx.Client
) -> None:
    # A token for a user id that does not exist (signed with core's own key) is refused.
    import asyncio

    from pyairtable_platform.core.auth.tokens import Revocations, TokenIssuer

    settings = core[1]
    redis_client = redis.asyncio.Redis.from_url(settings.redis_url)

    async def mint() -> str:
        issuer = TokenIssuer(settings.signing_keys(), Revocations(redis_client), 900)
        token = await issuer.access_token(
            user_id=uuid.uuid4(), workspace_id=None, role=None, session_id=None
        )
        await redis_client.aclose()
        return token.token

    token = asyncio.run(mint())
    assert_error(client.get("/api/v1/auth/whoami", headers=bearer(token)), 401)
