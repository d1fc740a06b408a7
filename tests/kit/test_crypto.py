"""Secrets at rest: AES-GCM with a rotating key ring."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyairtable_platform.kit.crypto import CryptoError, KeyRingError, SecretBox


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_round_trip_records_the_key_id() -> None:
    box = SecretBox.from_setting(f"k1:{_key()}")
    sealed = box.encrypt("patXXXX.secret", associated_data="airtable:ws1")
    assert sealed.startswith("v1.k1.")
    assert "patXXXX" not in sealed
    assert box.decrypt_str(sealed, associated_data="airtable:ws1") == "patXXXX.secret"
    assert box.encrypt("same") != box.encrypt("same")  # fresh nonce every time


@given(st.binary(max_size=2048))
def test_any_bytes_round_trip(data: bytes) -> None:
    box = SecretBox([("k", b"\x01" * 32)])
    assert box.decrypt(box.encrypt(data)) == data


def test_rotation_old_ciphertexts_still_decrypt_and_re_encrypt_under_the_new_key() -> None:
    old_key, new_key = _key(), _key()
    old = SecretBox.from_setting(f"2025:{old_key}")
    sealed = old.encrypt("llm-key", associated_data="ws")
    ring = SecretBox.from_setting(f'{{"2026": "{new_key}", "2025": "{old_key}"}}')
    assert ring.primary_kid == "2026"
    assert ring.decrypt_str(sealed, associated_data="ws") == "llm-key"
    assert ring.needs_rotation(sealed)
    rotated = ring.rotate(sealed, associated_data="ws")
    assert SecretBox.key_id(rotated) == "2026"
    assert not ring.needs_rotation(rotated)
    only_new = SecretBox.from_setting(f"2026:{new_key}")
    assert only_new.decrypt_str(rotated, associated_data="ws") == "llm-key"
    with pytest.raises(CryptoError, match="no key '2025'"):
        only_new.decrypt(sealed, associated_data="ws")


def test_tampering_or_moving_a_ciphertext_fails() -> None:
    box = SecretBox.from_setting(f"k1:{_key()}")
    sealed = box.encrypt("secret", associated_data="workspace-a")
    with pytest.raises(CryptoError):
        box.decrypt(sealed, associated_data="workspace-b")
    body = sealed.split(".")[2]
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(CryptoError):
        box.decrypt(f"v1.k1.{flipped}", associated_data="workspace-a")
    # Claiming another key id does not help either: the id is authenticated.
    other = SecretBox([("k1", base64.b64decode(_key())), ("k2", b"\x02" * 32)])
    with pytest.raises(CryptoError):
        other.decrypt(sealed.replace("v1.k1.", "v1.k2."), associated_data="workspace-a")
    for junk in ("", "v1.k1", "v2.k1.abc", "v1.k1.!!!", "v1.k1.abcd"):
        with pytest.raises(CryptoError):
            box.decrypt(junk)


def test_bad_rings_are_refused_with_a_reason() -> None:
    with pytest.raises(KeyRingError, match="32 bytes"):
        SecretBox.from_setting("k1:" + base64.b64encode(b"short").decode())
    with pytest.raises(KeyRingError, match="kid:key"):
        SecretBox.from_setting("justakey")
    with pytest.raises(KeyRingError, match="twice"):
        SecretBox.from_setting(f"a:{_key()},a:{_key()}")
    with pytest.raises(KeyRingError, match="required in production"):
        SecretBox.from_setting(None, fallback_secret="x" * 40, production=True)


def test_dev_fallback_is_derived_from_the_secret_key() -> None:
    a = SecretBox.from_setting(None, fallback_secret="s" * 40)
    b = SecretBox.from_setting("", fallback_secret="s" * 40)
    assert b.decrypt_str(a.encrypt("x")) == "x"
    c = SecretBox.from_setting(None, fallback_secret="t" * 40)
    with pytest.raises(CryptoError):
        c.decrypt(a.encrypt("x"))
