"""What the gateway decides before proxying: who may pass, how often, from which origin,
and what every answer carries (security headers, the frontend, the API reference)."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from redis.asyncio import Redis

from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.kit.auth import api_key_cache_key, api_key_hash
from tests.conftest import Infra
from tests.gateway.conftest import Signer, Upstreams
from tests.support.servers import ThreadServer


@pytest.fixture
async def anonymous(module_gateway: ThreadServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=module_gateway.url, timeout=30) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fresh_ip() -> str:
    """A client address of its own, so rate-limit buckets never carry over between tests
    (the gateway trusts X-Forwarded-For from loopback, as from any trusted proxy)."""
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


# --- authentication ------------------------------------------------------------------------


async def test_a_protected_route_without_credentials_is_401_with_www_authenticate(
    anonymous: httpx.AsyncClient,
) -> None:
    for path in ("/api/v1/workspaces", "/mcp", "/api/v1/chat"):
        response = await anonymous.post(path, json={})
        assert response.status_code == 401, path
        assert response.json()["error"] == "unauthorized"
        assert response.json()["request_id"]
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/auth/login",
        "/api/v1/auth/register",
        "/api/v1/auth/refresh",
        "/api/v1/auth/verify-email",
        "/api/v1/auth/password-reset/request",
        "/.well-known/jwks.json",
        "/sandbox/v0/meta/bases",
    ],
)
async def test_sign_in_endpoints_jwks_and_sandbox_are_open_to_anonymous_callers(
    anonymous: httpx.AsyncClient, path: str
) -> None:
    response = await anonymous.post(path) if "auth" in path else await anonymous.get(path)
    assert response.status_code == 200


async def test_a_valid_access_token_passes_and_is_forwarded_for_core_to_check_again(
    anonymous: httpx.AsyncClient, signer: Signer
) -> None:
    token = signer.token()
    response = await anonymous.get("/api/v1/workspaces", headers=bearer(token))
    assert response.status_code == 200
    forwarded = [v for k, v in response.json()["headers"] if k == "authorization"]
    assert forwarded == [f"Bearer {token}"]


def _tamper(token: str) -> str:
    header, _payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["role"] = "owner"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    return f"{header}.{forged.decode()}.{signature}"


def _alg_none(token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    header = jwt.get_unverified_header(token)
    return jwt.encode(claims, key=None, algorithm="none", headers={"kid": header["kid"]})


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda s: _tamper(s.token()), "tampered claims"),
        (lambda s: _alg_none(s.token()), "alg none"),
        (lambda s: s.token(exp=int(time.time()) - 120), "expired"),
        (lambda s: Signer(kid=s.kid).token(), "signed by another key with the same kid"),
        (lambda s: Signer().token(), "signed by an unknown key"),
        (lambda s: s.token(aud="someone-else"), "wrong audience"),
        (lambda s: s.token(typ="refresh"), "not an access token"),
        (lambda s: "not-a-jwt", "garbage"),
    ],
)
async def test_bad_tokens_are_401_at_the_gateway(
    anonymous: httpx.AsyncClient, signer: Signer, make: Any, why: str
) -> None:
    response = await anonymous.get("/api/v1/workspaces", headers=bearer(make(signer)))
    assert response.status_code == 401, why
    assert response.json()["error"] == "unauthorized"


async def test_an_api_key_is_resolved_through_core_once_then_from_redis(
    anonymous: httpx.AsyncClient, upstreams: Upstreams, infra: Infra
) -> None:
    key = f"pap_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
    upstreams.core.api_keys[key] = {
        "user_id": str(uuid.uuid4()),
        "workspace_id": str(uuid.uuid4()),
        "role": "member",
        "scope": "read",
        "kind": "api_key",
        "api_key_id": str(uuid.uuid4()),
    }
    before = upstreams.core.whoami_calls
    first = await anonymous.get("/api/v1/workspaces", headers={"X-API-Key": key})
    second = await anonymous.get("/api/v1/workspaces", headers=bearer(key))
    assert (first.status_code, second.status_code) == (200, 200)
    assert upstreams.core.whoami_calls == before + 1
    # Core revokes by deleting the cache entry: the very next request asks core again.
    del upstreams.core.api_keys[key]
    redis = Redis.from_url(infra.redis_url)
    await redis.delete(api_key_cache_key(api_key_hash(key)))
    await redis.aclose()
    revoked = await anonymous.get("/api/v1/workspaces", headers=bearer(key))
    assert revoked.status_code == 401


async def test_a_malformed_api_key_is_401_without_asking_core(
    anonymous: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    before = upstreams.core.whoami_calls
    response = await anonymous.get("/api/v1/workspaces", headers=bearer("pap_short"))
    assert response.status_code == 401
    assert upstreams.core.whoami_calls == before


# --- rate limits ---------------------------------------------------------------------------


async def test_anonymous_callers_are_limited_per_ip_with_429_and_ratelimit_headers(
    make_gateway: Any,
) -> None:
    gateway = make_gateway(rate_limit_sandbox="3/minute")
    ip, other_ip = fresh_ip(), fresh_ip()
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        answers = [
            await client.get("/sandbox/v0/x", headers={"X-Forwarded-For": ip}) for _ in range(4)
        ]
        elsewhere = await client.get("/sandbox/v0/x", headers={"X-Forwarded-For": other_ip})
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["ratelimit-limit"] == "3" for a in answers)
    limited = answers[-1]
    assert limited.json()["error"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 20
    assert 1 <= int(limited.headers["ratelimit-reset"]) <= 60
    assert elsewhere.status_code == 200


async def test_signed_in_callers_are_limited_per_user_not_per_ip(
    make_gateway: Any, signer: Signer
) -> None:
    gateway = make_gateway(rate_limit_authenticated="2/minute")
    user, other_user = uuid.uuid4(), uuid.uuid4()
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        codes = [
            (
                await client.get(
                    "/api/v1/things",
                    headers=bearer(signer.token(user)) | {"X-Forwarded-For": fresh_ip()},
                )
            ).status_code
            for _ in range(3)
        ]
        other = await client.get("/api/v1/things", headers=bearer(signer.token(other_user)))
    assert codes == [200, 200, 429]
    assert other.status_code == 200


async def test_replicas_share_one_limit_through_redis(make_gateway: Any) -> None:
    first, second = (
        make_gateway(rate_limit_auth="2/minute"),
        make_gateway(rate_limit_auth="2/minute"),
    )
    ip = fresh_ip()
    async with httpx.AsyncClient() as client:
        codes = [
            (
                await client.post(f"{g.url}/api/v1/auth/login", headers={"X-Forwarded-For": ip})
            ).status_code
            for g in (first, second, first)
        ]
    assert codes == [200, 200, 429]


async def test_leased_limits_never_admit_more_than_the_shared_limit_across_replicas(
    make_gateway: Any,
) -> None:
    # 0.05 x 200 = leases of up to 10 requests, taken from Redis and spent locally. Per
    # hour, so the bucket refills by less than one request while the test runs.
    first, second = (
        make_gateway(rate_limit_sandbox="200/hour", rate_limit_lease_fraction=0.05)
        for _ in range(2)
    )
    ip = fresh_ip()
    async with httpx.AsyncClient() as client:
        codes = [
            (await client.get(f"{g.url}/sandbox/v0/x", headers={"X-Forwarded-For": ip})).status_code
            for _ in range(130)
            for g in (first, first, second)
        ]
    admitted = codes.count(200)
    # Leases are charged before they are spent: never more than the limit; at most one
    # lease per replica (2 x 10) is held back unspent when the limit runs out.
    assert 200 - 2 * 10 <= admitted <= 200
    assert set(codes) == {200, 429}


async def test_without_redis_signed_in_calls_pass_and_sign_in_is_refused(
    make_gateway: Any, signer: Signer
) -> None:
    gateway = make_gateway(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        api = await client.get("/api/v1/things", headers=bearer(signer.token()))
        login = await client.post("/api/v1/auth/login")
    assert api.status_code == 200
    assert "ratelimit-limit" not in api.headers
    assert login.status_code == 503
    assert login.json()["error"] == "service_unavailable"
    assert login.headers["retry-after"] == "5"


# --- CORS and security headers -------------------------------------------------------------


async def test_cors_preflight_is_answered_for_configured_origins_only(make_gateway: Any) -> None:
    gateway = make_gateway(cors_origins=["https://app.example"])
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        allowed = await client.options(
            "/api/v1/workspaces", headers=preflight | {"Origin": "https://app.example"}
        )
        refused = await client.options(
            "/api/v1/workspaces", headers=preflight | {"Origin": "https://evil.example"}
        )
        simple = await client.get("/api/health", headers={"Origin": "https://app.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert "ratelimit-remaining" in simple.headers["access-control-expose-headers"].lower()


async def test_every_response_carries_the_security_headers(
    anonymous: httpx.AsyncClient, signer: Signer
) -> None:
    answers = [
        await anonymous.get("/"),
        await anonymous.get("/api/health"),
        await anonymous.get("/api/v1/things", headers=bearer(signer.token())),
        await anonymous.get("/api/v1/things"),
        await anonymous.get("/api/nothing-here"),
    ]
    for response in answers:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers
    page_csp = answers[0].headers["content-security-policy"]
    assert "script-src 'self'" in page_csp
    assert answers[2].headers["content-security-policy"].startswith("default-src 'none'")


async def test_hsts_is_sent_only_when_the_request_came_over_tls(
    anonymous: httpx.AsyncClient,
) -> None:
    # uvicorn honours X-Forwarded-Proto from trusted proxies (loopback by default).
    response = await anonymous.get("/api/health", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["strict-transport-security"].startswith("max-age=")


# --- frontend and SPA fallback -------------------------------------------------------------


@pytest.fixture
def frontend(tmp_path: Path) -> Path:
    (tmp_path / "_next" / "static").mkdir(parents=True)
    (tmp_path / "index.html").write_text("<html><body>app shell</body></html>")
    (tmp_path / "login.html").write_text("<html><body>login page</body></html>")
    (tmp_path / "_next" / "static" / "app.js").write_text("console.log(1)")
    return tmp_path


async def test_the_frontend_is_served_with_spa_fallback_that_never_shadows_the_api(
    make_gateway: Any, frontend: Path
) -> None:
    gateway = make_gateway(frontend_dir=frontend)
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        root = await client.get("/", headers=html)
        login = await client.get("/login", headers=html)
        deep = await client.get("/workspaces/123/bases", headers=html)
        asset = await client.get("/_next/static/app.js")
        missing_asset = await client.get("/_next/static/gone.js")
        api_unknown = await client.get("/api/nothing", headers=html)
        mcp_unknown = await client.get("/.well-known-ish", headers=html)
        escape = await client.get("/..%2f..%2fetc/passwd", headers=html)
        post = await client.post("/somewhere")
    assert "app shell" in root.text
    assert root.headers["cache-control"] == "no-cache"
    assert "login page" in login.text
    assert "app shell" in deep.text
    assert asset.text == "console.log(1)"
    assert "immutable" in asset.headers["cache-control"]
    assert missing_asset.status_code == 404
    assert missing_asset.json()["error"] == "not_found"
    assert api_unknown.status_code == 404
    assert api_unknown.headers["content-type"].startswith("application/json")
    assert mcp_unknown.status_code == 200  # not a reserved prefix: a client-side route
    assert "root:" not in escape.text
    assert post.status_code == 404
    assert post.json()["error"] == "not_found"


# --- OpenAPI -------------------------------------------------------------------------------


async def test_the_merged_reference_lists_each_services_own_routes(
    anonymous: httpx.AsyncClient,
) -> None:
    document = (await anonymous.get("/api/openapi.json")).json()
    paths = document["paths"]
    assert document["info"]["title"] == "PyAirtable Platform API"
    assert "/api/health" in paths
    assert paths["/api/v1/things"]["get"]["summary"] == "core thing"
    assert paths["/api/v1/chat"]["get"]["summary"] == "ai thing"
    # Clashing schema names are kept apart, and references follow the rename.
    schemas = document["components"]["schemas"]
    assert {"Thing", "ai__Thing"} <= set(schemas)
    ai_ref = paths["/api/v1/chat"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ai_ref["schema"]["$ref"] == "#/components/schemas/ai__Thing"
    assert paths["/api/v1/things"]["get"]["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]
    assert "security" not in paths["/api/v1/auth/login"]["post"]
    assert "x-unavailable-services" not in document


async def test_the_reference_says_which_service_is_missing_when_one_is_down(
    make_gateway: Any,
) -> None:
    gateway = make_gateway(ai_url=f"http://127.0.0.1:{free_port()}")
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        document = (await client.get("/api/openapi.json")).json()
    assert document["x-unavailable-services"] == ["ai"]
    assert "/api/v1/things" in document["paths"]


async def test_the_docs_page_loads_its_assets_from_the_gateway(
    anonymous: httpx.AsyncClient,
) -> None:
    page = await anonymous.get("/api/docs")
    assert page.status_code == 200
    assert "https://" not in page.text
    for asset in ("/api/docs/assets/swagger-ui-bundle.js", "/api/docs/init.js"):
        assert asset in page.text
        loaded = await anonymous.get(asset)
        assert loaded.status_code == 200
        assert len(loaded.content) > 100
    assert (await anonymous.get("/api/docs/assets/../../etc")).status_code == 404
    # Served under the page CSP: no inline script is needed.
    assert (
        "'unsafe-inline'"
        not in page.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    )


async def test_concurrent_requests_share_one_token_verification(
    anonymous: httpx.AsyncClient, signer: Signer
) -> None:
    token = signer.token()
    answers = await asyncio.gather(
        *(anonymous.get("/api/v1/things", headers=bearer(token)) for _ in range(20))
    )
    assert {a.status_code for a in answers} == {200}
