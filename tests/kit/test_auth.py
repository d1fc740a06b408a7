"""Access-token verification as the gateway and ai do it (JWKS fetched from a real core),
and the attacks it must refuse: expired, tampered, alg none, HS256 with the public key,
another key, wrong audience/issuer/type."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pyairtable_platform.core.config import CoreSettings
from pyairtable_platform.kit.auth import (
    Identity,
    JWKSCache,
    extract_credential,
    verify_access_token,
)
from pyairtable_platform.kit.errors import Unauthorized
from tests.conftest import Infra
from tests.core.accounts.helpers import bearer, core_server, register
from tests.support.servers import ThreadServer


@pytest.fixture(scope="module")
def core(infra: Infra) -> Iterator[tuple[ThreadServer, CoreSettings]]:
    with core_server(infra) as running:
        yield running


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "pyairtable-platform",
        "aud": "pyairtable-platform",
        "sub": str(uuid.uuid4()),
        "wid": str(uuid.uuid4()),
        "role": "owner",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 600,
        "typ": "access",
    } | overrides


def _sign(settings: CoreSettings, claims: dict[str, Any]) -> str:
    key = settings.signing_keys().signing
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _attacks(settings: CoreSettings) -> dict[str, str]:
    kid = settings.signing_keys().signing.kid
    good = _sign(settings, _claims(role="viewer"))
    header, payload, signature = good.split(".")
    tampered_payload = _b64(
        json.loads(base64.urlsafe_b64decode(payload + "==")) | {"role": "owner"}
    )
    public_raw = settings.signing_keys().signing.public_key.public_bytes(
        Encoding.Raw, PublicFormat.Raw
    )
    stranger = Ed25519PrivateKey.generate()
    return {
        "expired": _sign(settings, _claims(iat=int(time.time()) - 3600, exp=int(time.time()) - 60)),
        "tampered payload": f"{header}.{tampered_payload}.{signature}",
        "alg none": f"{_b64({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{payload}.",
        "HS256 with the public key": jwt.encode(
            _claims(), public_raw, algorithm="HS256", headers={"kid": kid}
        ),
        "another key, same kid": jwt.encode(
            _claims(), stranger, algorithm="EdDSA", headers={"kid": kid}
        ),
        "another key, unknown kid": jwt.encode(
            _claims(), stranger, algorithm="EdDSA", headers={"kid": "attacker"}
        ),
        "no kid": jwt.encode(
            _claims(), settings.signing_keys().signing.private_key, algorithm="EdDSA"
        ),
        "wrong audience": _sign(settings, _claims(aud="someone-else")),
        "wrong issuer": _sign(settings, _claims(iss="evil")),
        "refresh type": _sign(settings, _claims(typ="refresh")),
        "no expiry": _sign(settings, {k: v for k, v in _claims().items() if k != "exp"}),
        "role without workspace": _sign(settings, _claims(wid=None)),
        "unknown role": _sign(settings, _claims(role="superuser")),
        "garbage": "not.a.jwt",
        "empty segments": "..",
        "huge": "a" * 10_000,
    }


async def test_every_attack_is_refused_by_the_shared_verifier(
    core: tuple[ThreadServer, CoreSettings],
) -> None:
    server, settings = core
    async with httpx.AsyncClient() as http:
        jwks = JWKSCache(http, server.url)
        good = await verify_access_token(_sign(settings, _claims(role="admin")), jwks)
        assert good.role == "admin"
        assert good.kind == "access_token"
        assert good.scope == "full"
        refused = {}
        for name, token in _attacks(settings).items():
            with pytest.raises(Unauthorized) as caught:
                await verify_access_token(token, jwks)
            refused[name] = caught.value.status_code
    assert set(refused.values()) == {401}


def test_every_attack_is_refused_by_core_itself(core: tuple[ThreadServer, CoreSettings]) -> None:
    server, settings = core
    with httpx.Client(base_url=server.url) as client:
        for name, token in _attacks(settings).items():
            response = client.get("/api/v1/users/me", headers=bearer(token))
            assert response.status_code == 401, (name, response.text)
            assert set(response.json()) >= {"error", "detail", "request_id"}


async def test_a_real_login_token_verifies_to_the_same_identity_as_whoami(
    core: tuple[ThreadServer, CoreSettings],
) -> None:
    server, _ = core
    with httpx.Client(base_url=server.url) as client:
        account = register(client)
    async with httpx.AsyncClient() as http:
        identity = await verify_access_token(account.access, JWKSCache(http, server.url))
    assert identity.user_id == account.user_id
    assert identity.workspace_id == account.workspace_id
    assert identity.role == "owner"
    assert identity.jti


async def test_unknown_kids_refetch_the_key_set_at_most_once_per_interval(
    core: tuple[ThreadServer, CoreSettings],
) -> None:
    server, settings = core
    fetches: list[str] = []

    async def count(request: httpx.Request) -> None:
        fetches.append(str(request.url))

    stranger = Ed25519PrivateKey.generate()
    async with httpx.AsyncClient(event_hooks={"request": [count]}) as http:
        jwks = JWKSCache(http, server.url, min_refresh_interval=3600)
        await verify_access_token(_sign(settings, _claims()), jwks)
        assert len(fetches) == 1
        for n in range(5):
            forged = jwt.encode(_claims(), stranger, algorithm="EdDSA", headers={"kid": f"x{n}"})
            with pytest.raises(Unauthorized):
                await verify_access_token(forged, jwks)
        # The first unknown kid could not refetch (a fetch just happened); none of them did.
        assert len(fetches) == 1
        fresh = JWKSCache(http, server.url, min_refresh_interval=0)
        forged = jwt.encode(_claims(), stranger, algorithm="EdDSA", headers={"kid": "y"})
        with pytest.raises(Unauthorized):
            await verify_access_token(forged, fresh)
        assert len(fetches) == 2


async def test_a_remembered_token_stops_verifying_as_soon_as_its_key_leaves_the_key_set(
    core: tuple[ThreadServer, CoreSettings],
) -> None:
    server, settings = core
    token = _sign(settings, _claims(role="member"))
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    async with httpx.AsyncClient() as http:
        jwks = JWKSCache(http, server.url, min_refresh_interval=3600)
        assert (await verify_access_token(token, jwks)).role == "member"
        assert jwks.verified.get(token) is not None
        assert (await verify_access_token(token, jwks)).role == "member"
        # The signing key is retired: the memory of what it verified goes with it.
        jwks.load({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "other", "x": _raw64(other)}]})
        with pytest.raises(Unauthorized):
            await verify_access_token(token, jwks)


async def test_a_verified_token_is_never_remembered_past_its_expiry(
    core: tuple[ThreadServer, CoreSettings],
) -> None:
    server, settings = core
    now = int(time.time())
    # Expired a second ago: still inside the verifier's leeway, so it verifies once.
    ending = _sign(settings, _claims(iat=now - 600, exp=now - 1))
    lasting = _sign(settings, _claims())
    async with httpx.AsyncClient() as http:
        jwks = JWKSCache(http, server.url)
        await verify_access_token(ending, jwks)
        await verify_access_token(lasting, jwks)
        assert jwks.verified.get(ending) is None
        assert jwks.verified.get(lasting) is not None


def _raw64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jwks_and_account(url: str) -> tuple[dict[str, Any], Any]:
    with httpx.Client(base_url=url) as client:
        return client.get("/.well-known/jwks.json").json(), register(client)


async def test_key_rotation_keeps_tokens_of_the_previous_key_valid(infra: Infra) -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()

    def raw(key: Ed25519PrivateKey) -> str:
        return base64.b64encode(key.private_bytes_raw()).decode()

    with core_server(infra, jwt_private_keys=f"k-new:{raw(new)},k-old:{raw(old)}") as (server, _):
        published, account = _jwks_and_account(server.url)
        assert [k["kid"] for k in published["keys"]] == ["k-new", "k-old"]
        assert jwt.get_unverified_header(account.access)["kid"] == "k-new"
        async with httpx.AsyncClient() as http:
            jwks = JWKSCache(http, server.url)
            by_old = jwt.encode(_claims(), old, algorithm="EdDSA", headers={"kid": "k-old"})
            assert (await verify_access_token(by_old, jwks)).role == "owner"
            assert (await verify_access_token(account.access, jwks)).user_id == account.user_id


def test_extract_credential_reads_bearer_and_x_api_key() -> None:
    key = "pap_abcdefgh_" + "s" * 43
    assert extract_credential({"Authorization": "Bearer eyJ.x.y"}) == ("access_token", "eyJ.x.y")
    assert extract_credential({"authorization": f"bearer {key}"}) == ("api_key", key)
    assert extract_credential({"X-API-Key": key}) == ("api_key", key)
    assert extract_credential({"x-api-key": f"  {key} "}) == ("api_key", key)
    assert extract_credential({"Authorization": "Basic dXNlcjpwYXNz", "X-API-Key": key}) == (
        "api_key",
        key,
    )
    assert extract_credential({"Authorization": "Bearer "}) is None
    assert extract_credential({}) is None


def test_identity_round_trips_through_its_cache_json() -> None:
    identity = Identity(
        user_id=uuid.uuid4(),
        workspace_id=uuid.uuid4(),
        role="member",
        scope="write",
        kind="api_key",
        api_key_id=uuid.uuid4(),
        jti=None,
        is_platform_admin=True,
    )
    assert Identity.from_json(identity.to_json()) == identity
    with pytest.raises(ValueError, match="not an identity"):
        Identity.from_json(b'{"user_id": "x"}')
