"""Core's Ed25519 signing key ring and the JWKS it publishes.

``JWT_PRIVATE_KEYS`` holds ``kid:key`` pairs (comma-separated) or a JSON object/list; a key
is a PEM private key (``openssl genpkey -algorithm ed25519``) or the base64 of its 32-byte
seed. The first key signs, every key verifies and is published, so rotation is: add the new
key in front, wait one access-token lifetime (plus the verifiers' JWKS cache age), drop the
old one. Outside production an unset ring falls back to one key derived from ``SECRET_KEY``:
deterministic, so restarts and several core processes agree without sharing a file.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from pyairtable_platform.kit.crypto import KeyRingError, derive_key, parse_key_pairs

_KID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, str]:
        raw = self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
        }


def _load_private_key(kid: str, text: str) -> Ed25519PrivateKey:
    value = text.strip().replace("\\n", "\n")
    if value.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(value.encode(), password=None)
        except ValueError as exc:
            raise KeyRingError(f"JWT key {kid!r}: not a readable PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyRingError(f"JWT key {kid!r}: must be an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=False)
    except ValueError as exc:
        raise KeyRingError(f"JWT key {kid!r}: neither PEM nor base64") from exc
    if len(raw) != 32:
        raise KeyRingError(f"JWT key {kid!r}: a raw Ed25519 key is 32 bytes, got {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw)


class SigningKeyRing:
    """The keys core signs with (first) and verifies with (all)."""

    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise KeyRingError("JWT_PRIVATE_KEYS is empty")
        seen: set[str] = set()
        for key in keys:
            if not _KID.match(key.kid):
                raise KeyRingError(f"JWT key id {key.kid!r}: use 1-64 letters, digits, . _ -")
            if key.kid in seen:
                raise KeyRingError(f"JWT key id {key.kid!r} appears twice")
            seen.add(key.kid)
        self.keys = keys

    @property
    def signing(self) -> SigningKey:
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self.keys]}

    @classmethod
    def from_setting(
        cls, value: str | None, *, secret_key: str, production: bool
    ) -> SigningKeyRing:
        pairs = parse_key_pairs(value or "")
        if pairs:
            return cls([SigningKey(kid, _load_private_key(kid, key)) for kid, key in pairs])
        if production:
            raise KeyRingError("JWT_PRIVATE_KEYS is required with ENVIRONMENT=production")
        private = Ed25519PrivateKey.from_private_bytes(derive_key(secret_key, "jwt-ed25519-v1"))
        raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return cls([SigningKey("dev-" + hashlib.sha256(raw).hexdigest()[:12], private)])
