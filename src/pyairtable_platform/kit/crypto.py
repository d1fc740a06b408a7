"""Secrets at rest: AES-256-GCM with a key ring, the key id stored with each ciphertext.

A ciphertext reads ``v1.<kid>.<base64url(nonce || ciphertext+tag)>``. The first key of the
ring encrypts; every key decrypts, so keys rotate by putting a new key first, re-encrypting
at leisure (:meth:`SecretBox.needs_rotation` / :meth:`SecretBox.rotate`) and then dropping
the old key. ``associated_data`` binds a ciphertext to its row (say, ``"airtable:<workspace
id>"``): a ciphertext copied into another row does not decrypt.

The ring comes from one setting, ``SECRETS_ENCRYPTION_KEYS``: ``kid:base64key`` pairs
separated by commas, or a JSON object ``{"kid": "base64key"}`` (order kept). Keys are 32
random bytes (``python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"``).
Outside production, an unset ring falls back to one key derived from ``SECRET_KEY``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32
_KID = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")


class CryptoError(ValueError):
    """A ciphertext that cannot be decrypted (unknown key, tampered, wrong binding)."""


class KeyRingError(ValueError):
    """A key ring setting that cannot be used."""


def _b64decode_any(value: str) -> bytes:
    text = value.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyRingError("key is not valid base64") from exc


def parse_key_pairs(value: str) -> list[tuple[str, str]]:
    """``kid:value,kid2:value`` or a JSON object / list of ``{"kid", "key"}``, order kept."""
    text = value.strip()
    if not text:
        return []
    if text.startswith(("{", "[")):
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KeyRingError(f"not valid JSON: {exc.msg}") from exc
        if isinstance(decoded, dict):
            return [(str(k), str(v)) for k, v in decoded.items()]
        if isinstance(decoded, list):
            pairs = []
            for item in decoded:
                if not isinstance(item, dict) or "kid" not in item or "key" not in item:
                    raise KeyRingError('each list entry needs "kid" and "key"')
                pairs.append((str(item["kid"]), str(item["key"])))
            return pairs
        raise KeyRingError("expected a JSON object or list")
    pairs = []
    for part in text.split(","):
        kid, sep, key = part.strip().partition(":")
        if not sep or not kid.strip() or not key.strip():
            raise KeyRingError("expected kid:key pairs separated by commas")
        pairs.append((kid.strip(), key.strip()))
    return pairs


def derive_key(secret: str, purpose: str, length: int = KEY_BYTES) -> bytes:
    """A key derived from a service secret for one purpose (HKDF-SHA256)."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=length, salt=b"pyairtable-platform", info=purpose.encode()
    )
    return hkdf.derive(secret.encode())


class SecretBox:
    """Encrypts and decrypts small secrets with a key ring; the first key encrypts."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise KeyRingError("the key ring is empty")
        self._ciphers: dict[str, AESGCM] = {}
        for kid, key in keys:
            if not _KID.match(kid):
                raise KeyRingError(f"key id {kid!r} must be 1-32 letters, digits, '-' or '_'")
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"key {kid!r} must be {KEY_BYTES} bytes, not {len(key)}")
            if kid in self._ciphers:
                raise KeyRingError(f"key id {kid!r} appears twice")
            self._ciphers[kid] = AESGCM(key)
        self.primary_kid = keys[0][0]

    @classmethod
    def from_setting(
        cls, value: str | None, *, fallback_secret: str | None = None, production: bool = False
    ) -> SecretBox:
        """The ring from ``SECRETS_ENCRYPTION_KEYS``; outside production an empty setting
        falls back to a key derived from ``fallback_secret`` (the service's SECRET_KEY)."""
        pairs = parse_key_pairs(value or "")
        if pairs:
            return cls([(kid, _b64decode_any(key)) for kid, key in pairs])
        if production or not fallback_secret:
            raise KeyRingError("SECRETS_ENCRYPTION_KEYS is required in production")
        return cls([("dev", derive_key(fallback_secret, "secrets-at-rest-v1"))])

    @property
    def kids(self) -> list[str]:
        return list(self._ciphers)

    @staticmethod
    def _aad(kid: str, associated_data: str | bytes | None) -> bytes:
        extra = associated_data.encode() if isinstance(associated_data, str) else associated_data
        return f"{VERSION}.{kid}.".encode() + (extra or b"")

    def encrypt(self, plaintext: str | bytes, *, associated_data: str | bytes | None = None) -> str:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.primary_kid].encrypt(
            nonce, data, self._aad(self.primary_kid, associated_data)
        )
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
        return f"{VERSION}.{self.primary_kid}.{body}"

    @staticmethod
    def key_id(ciphertext: str) -> str:
        parts = ciphertext.split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            raise CryptoError("not a ciphertext of this format")
        return parts[1]

    def decrypt(self, ciphertext: str, *, associated_data: str | bytes | None = None) -> bytes:
        kid = self.key_id(ciphertext)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise CryptoError(f"no key {kid!r} in the ring; was it removed before rotation?")
        body = ciphertext.split(".")[2]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("ciphertext is not valid base64") from exc
        if len(raw) < NONCE_BYTES + 16:
            raise CryptoError("ciphertext is too short")
        try:
            return cipher.decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._aad(kid, associated_data)
            )
        except InvalidTag as exc:
            raise CryptoError("ciphertext was tampered with or belongs elsewhere") from exc

    def decrypt_str(self, ciphertext: str, *, associated_data: str | bytes | None = None) -> str:
        return self.decrypt(ciphertext, associated_data=associated_data).decode()

    def needs_rotation(self, ciphertext: str) -> bool:
        return self.key_id(ciphertext) != self.primary_kid

    def rotate(self, ciphertext: str, *, associated_data: str | bytes | None = None) -> str:
        """Re-encrypt with the primary key (unchanged if already under it)."""
        if not self.needs_rotation(ciphertext):
            return ciphertext
        return self.encrypt(
            self.decrypt(ciphertext, associated_data=associated_data),
            associated_data=associated_data,
        )
