"""The verification side of authentication, shared by every service.

Core signs access tokens (EdDSA / Ed25519) and publishes its public keys at
``/.well-known/jwks.json``; the gateway and the ai service verify tokens locally with a
cached copy of that key set (:class:`JWKSCache`). API keys are opaque: services without
database access resolve them through core's ``/api/v1/auth/whoami`` and cache the answer in
Redis for a minute (:func:`resolve_api_key`); core replaces or deletes that cache entry when a
key is revoked or its owner's access changes, so a revoked key fails on the next request.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Generic, Literal, TypeVar

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from redis.asyncio import Redis
from redis.exceptions import RedisError

from pyairtable_platform.kit.errors import ServiceUnavailable, Unauthorized

ISSUER = "pyairtable-platform"
AUDIENCE = "pyairtable-platform"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a claim value, not a secret
JWKS_PATH = "/.well-known/jwks.json"
WHOAMI_PATH = "/api/v1/auth/whoami"

Scope = Literal["read", "write", "full"]
CredentialKind = Literal["access_token", "api_key"]
ROLES = ("owner", "admin", "member", "viewer")
SCOPES: tuple[Scope, ...] = ("read", "write", "full")

API_KEY_PREFIX = "pap_"
# pap_<8 lowercase alphanumerics>_<url-safe secret of 32+ characters>
API_KEY_PATTERN = re.compile(r"^pap_([a-z0-9]{8})_([A-Za-z0-9_\-]{32,128})$")
API_KEY_CACHE_TTL_SECONDS = 60
# Written by core over a cache entry when a key is revoked: a concurrent cache fill (which
# only writes when the entry is absent) can then not resurrect the key for a minute.
API_KEY_REVOKED_MARKER = b"revoked"

# Tokens longer than this are refused before any parsing (ours are ~400 bytes).
MAX_TOKEN_LENGTH = 4096

# Verified access tokens are remembered for at most this long (never past their exp): a token
# comes back on every request of its 15-minute life, and re-checking its signature each time
# is the largest CPU cost of authenticating one. Only the signature and claims checks are
# remembered; revocation stays the caller's (core checks it on every request).
VERIFIED_TOKEN_MEMORY_SECONDS = 300.0
VERIFIED_TOKEN_MEMORY_SIZE = 50_000


@dataclass(frozen=True)
class Identity:
    """Who is calling, verified. The same shape whatever the credential was."""

    user_id: uuid.UUID
    workspace_id: uuid.UUID | None
    role: str | None
    scope: Scope
    kind: CredentialKind
    api_key_id: uuid.UUID | None = None
    jti: str | None = None
    is_platform_admin: bool = False

    def to_json(self) -> bytes:
        data = asdict(self)
        for name in ("user_id", "workspace_id", "api_key_id"):
            if data[name] is not None:
                data[name] = str(data[name])
        return orjson.dumps(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Identity:
        """Build from JSON-like data (a cache entry or a whoami answer); extra keys ignored."""
        try:
            scope = data["scope"]
            kind = data["kind"]
            role = data.get("role")
            if scope not in SCOPES or kind not in ("access_token", "api_key"):
                raise ValueError("unknown scope or kind")
            if role is not None and role not in ROLES:
                raise ValueError("unknown role")
            return cls(
                user_id=uuid.UUID(str(data["user_id"])),
                workspace_id=_optional_uuid(data.get("workspace_id")),
                role=role,
                scope=scope,
                kind=kind,
                api_key_id=_optional_uuid(data.get("api_key_id")),
                jti=data.get("jti"),
                is_platform_admin=bool(data.get("is_platform_admin", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an identity: {exc}") from exc

    @classmethod
    def from_json(cls, raw: bytes | str) -> Identity:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError("not JSON") from exc
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return cls.from_mapping(data)


def _optional_uuid(value: Any) -> uuid.UUID | None:
    return None if value in (None, "") else uuid.UUID(str(value))


# --- credentials in requests -------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def is_api_key(value: str) -> bool:
    return value.startswith(API_KEY_PREFIX)


def extract_credential(headers: Mapping[str, str]) -> tuple[CredentialKind, str] | None:
    """The credential a request carries: ``Authorization: Bearer <jwt or API key>`` first,
    then ``X-API-Key``. ``None`` when there is none (the caller answers 401)."""
    authorization = _header(headers, "authorization")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            return ("api_key" if is_api_key(value) else "access_token"), value
    api_key = _header(headers, "x-api-key")
    if api_key and api_key.strip():
        return "api_key", api_key.strip()
    return None


def api_key_hash(key: str) -> str:
    """SHA-256 hex of an API key: how it is stored and how its cache entry is named.

    API keys carry 190+ bits of randomness, so a fast unsalted hash is safe and lets the
    lookup be a single indexed comparison."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_cache_key(key_hash: str) -> str:
    return f"pap:auth:apikey:{key_hash}"


def parse_api_key(key: str) -> tuple[str, str]:
    """Split ``pap_<prefix>_<secret>``; :class:`Unauthorized` when it is not that shape."""
    match = API_KEY_PATTERN.match(key)
    if match is None:
        raise Unauthorized("invalid API key")
    return match.group(1), match.group(2)


# --- access tokens -------------------------------------------------------------------------


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def public_key_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError("not an Ed25519 OKP key")
    if jwk.get("alg", "EdDSA") != "EdDSA" or jwk.get("use", "sig") != "sig":
        raise ValueError("not a signing key for EdDSA")
    raw = _b64url_decode(str(jwk["x"]))
    return Ed25519PublicKey.from_public_bytes(raw)


class JWKSCache:
    """Core's public signing keys, fetched from its JWKS endpoint and cached.

    An unknown ``kid`` triggers a refetch (at most once per ``min_refresh_interval``
    seconds, so a flood of forged kids cannot hammer core); known keys are re-read every
    ``max_age`` seconds so a retired key stops verifying. With ``core_url=None`` the cache
    holds only the keys given to :meth:`load` (core verifies its own tokens this way).
    """

    def __init__(
        self,
        http: httpx.AsyncClient | None,
        core_url: str | None,
        *,
        min_refresh_interval: float = 30.0,
        max_age: float = 300.0,
        leeway: float = 5.0,
    ) -> None:
        self._http = http
        self._url = core_url.rstrip("/") + JWKS_PATH if core_url else None
        self.min_refresh_interval = min_refresh_interval
        self.max_age = max_age
        self.leeway = leeway
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._loaded_at: float | None = None
        self._last_attempt: float | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        # Claims of tokens verified with these keys (see decode_access_token).
        self.verified: TokenMemory[dict[str, Any]] = TokenMemory(
            VERIFIED_TOKEN_MEMORY_SECONDS, VERIFIED_TOKEN_MEMORY_SIZE
        )

    def load(self, jwks: Mapping[str, Any]) -> None:
        """Replace the key set with a JWKS document (``{"keys": [...]}``)."""
        keys: dict[str, Ed25519PublicKey] = {}
        entries = jwks.get("keys")
        if not isinstance(entries, list):
            raise ValueError("JWKS has no keys list")
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                continue
            try:
                keys[entry["kid"]] = public_key_from_jwk(entry)
            except (ValueError, KeyError):
                continue  # keys of other types are not ours to use
        if keys.keys() != self._keys.keys():
            # A retired key's tokens must stop verifying now, not when their memory expires.
            self.verified.clear()
        self._keys = keys
        self._loaded_at = time.monotonic()

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    async def refresh(self) -> None:
        if self._url is None or self._http is None:
            return
        self._last_attempt = time.monotonic()
        try:
            response = await self._http.get(self._url, timeout=5.0)
            response.raise_for_status()
            self.load(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceUnavailable(f"cannot fetch signing keys from core: {exc}") from exc

    def _stale(self, now: float) -> bool:
        return self._url is not None and (
            self._loaded_at is None or now - self._loaded_at > self.max_age
        )

    def _recently_tried(self, now: float) -> bool:
        return (
            self._last_attempt is not None and now - self._last_attempt < self.min_refresh_interval
        )

    async def _background_refresh(self) -> None:
        async with self._lock:
            if self._recently_tried(time.monotonic()):
                return
            # On failure keep verifying with the keys we hold; retried after the interval.
            with contextlib.suppress(ServiceUnavailable):
                await self.refresh()

    async def get_key(self, kid: str) -> Ed25519PublicKey:
        now = time.monotonic()
        key = self._keys.get(kid)
        if key is not None:
            if self._stale(now) and not self._recently_tried(now) and not self._lock.locked():
                # Known key, old key set: answer now, re-read the set off the request path.
                task = asyncio.create_task(self._background_refresh())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return key
        if self._url is None:
            raise Unauthorized("access token signed by an unknown key")
        async with self._lock:
            now = time.monotonic()
            key = self._keys.get(kid)
            if key is not None:
                return key
            if self._recently_tried(now):
                if not self._keys:
                    raise ServiceUnavailable("signing keys from core are not available yet")
                raise Unauthorized("access token signed by an unknown key")
            try:
                await self.refresh()
            except ServiceUnavailable:
                if not self._keys:
                    raise
        key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("access token signed by an unknown key")
        return key


_DECODE_OPTIONS: Any = {"require": ["exp", "iat", "sub", "jti", "iss", "aud"]}


def identity_from_claims(claims: Mapping[str, Any]) -> Identity:
    """An :class:`Identity` from verified access-token claims."""
    if claims.get("typ") != ACCESS_TOKEN_TYPE:
        raise Unauthorized("not an access token")
    role = claims.get("role")
    try:
        user_id = uuid.UUID(str(claims["sub"]))
        workspace_id = _optional_uuid(claims.get("wid"))
    except (KeyError, ValueError) as exc:
        raise Unauthorized("invalid access token claims") from exc
    if role is not None and role not in ROLES:
        raise Unauthorized("invalid access token claims")
    if (role is None) != (workspace_id is None):
        raise Unauthorized("invalid access token claims")
    return Identity(
        user_id=user_id,
        workspace_id=workspace_id,
        role=role,
        scope="full",
        kind="access_token",
        jti=str(claims["jti"]),
        is_platform_admin=bool(claims.get("adm", False)),
    )


async def decode_access_token(token: str, jwks: JWKSCache) -> dict[str, Any]:
    """Verify signature and standard claims; the claims, or :class:`Unauthorized`.

    A token verified before with the same key set is answered from ``jwks.verified`` until
    the earlier of its ``exp`` and the memory's TTL; the first sight always runs every check.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise Unauthorized("invalid access token")
    remembered = jwks.verified.get(token)
    if remembered is not None:
        return remembered
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized("malformed access token") from exc
    # Pin the algorithm before looking at anything else: "none", HS256-with-the-public-key
    # and friends never reach a verifier.
    if header.get("alg") != "EdDSA":
        raise Unauthorized("access token algorithm not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthorized("access token has no key id")
    key = await jwks.get_key(kid)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["EdDSA"],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=jwks.leeway,
            options=_DECODE_OPTIONS,
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("access token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid access token") from exc
    jwks.verified.put(token, claims, float(claims["exp"]))
    return claims


async def verify_access_token(token: str, jwks: JWKSCache) -> Identity:
    """The identity in a valid access token; :class:`Unauthorized` for anything wrong
    (expired, tampered, ``alg: none``, another key, wrong audience, issuer or type)."""
    return identity_from_claims(await decode_access_token(token, jwks))


_V = TypeVar("_V")


class TokenMemory(Generic[_V]):
    """A bounded LRU of verified access tokens, each kept until the earlier of its ``exp``
    and ``ttl`` seconds after verification, keyed by the token's SHA-256 (not the token).

    Signature checking (Ed25519 plus PyJWT's parsing) is the largest CPU cost of an
    authenticated request; a token seen again within its life need not be re-verified.
    Only *verification* is remembered: revocation checks stay the caller's business.
    """

    def __init__(self, ttl: float, size: int) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[bytes, tuple[_V, float]] = OrderedDict()

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> _V | None:
        key = self._key(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, until = entry
        if time.time() >= until:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, token: str, value: _V, exp: float) -> None:
        if self.size <= 0 or self.ttl <= 0:
            return
        key = self._key(token)
        self._entries[key] = (value, min(exp, time.time() + self.ttl))
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


# --- API keys for services without database access -----------------------------------------


async def resolve_api_key(
    key: str, redis: Redis, http: httpx.AsyncClient, core_url: str
) -> Identity:
    """The identity behind an API key, from the Redis cache or core's whoami.

    Cached for :data:`API_KEY_CACHE_TTL_SECONDS`; core invalidates the entry on revocation,
    role change, membership removal and user deactivation.
    """
    parse_api_key(key)
    cache_key = api_key_cache_key(api_key_hash(key))
    try:
        cached = await redis.get(cache_key)
    except RedisError:
        cached = None  # Redis down: fall through to core, which stays authoritative
    if cached == API_KEY_REVOKED_MARKER:
        raise Unauthorized("invalid API key")
    if cached is not None:
        try:
            return Identity.from_json(cached)
        except ValueError:
            pass  # a corrupt entry is refetched and overwritten below
    try:
        response = await http.get(
            core_url.rstrip("/") + WHOAMI_PATH,
            headers={"Authorization": f"Bearer {key}"},
            timeout=5.0,
        )
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"cannot verify the API key with core: {exc}") from exc
    if response.status_code == 401:
        raise Unauthorized("invalid API key")
    if response.status_code != 200:
        raise ServiceUnavailable(f"core answered {response.status_code} verifying an API key")
    try:
        identity = Identity.from_mapping(response.json())
    except ValueError as exc:
        raise ServiceUnavailable("core answered an unreadable identity") from exc
    if identity.kind != "api_key":
        raise Unauthorized("invalid API key")
    with contextlib.suppress(RedisError):
        await redis.set(cache_key, identity.to_json(), ex=API_KEY_CACHE_TTL_SECONDS, nx=True)
    return identity
