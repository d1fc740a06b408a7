"""Password policy: at least 10 characters, not a common password, not the email.

Hashing is argon2id (``kit.security``); it runs in a worker thread so a login does not
stall the event loop for the ~50 ms the hash takes.
"""

from __future__ import annotations

import asyncio
from functools import cache
from importlib import resources

from pyairtable_platform.core.accounts.exceptions import WeakPassword
from pyairtable_platform.kit.security import hash_password, verify_password

MIN_LENGTH = 10
MAX_LENGTH = 256
# Verifying against this hash when the email is unknown keeps both answers equally slow.
_DUMMY_HASH = hash_password("timing-equaliser-not-a-real-password")


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files(__package__).joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def check_new_password(password: str, *, email: str | None = None) -> None:
    """:class:`WeakPassword` (422) with a message that says what to change."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"password must be at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if lowered in common_passwords() or len(set(lowered)) <= 2:
        raise WeakPassword("this password is too common; choose a less guessable one")
    if email and lowered in {email.lower(), email.split("@", 1)[0].lower()}:
        raise WeakPassword("password must not be your email address")


async def hash_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_async(password_hash: str | None, password: str) -> bool:
    if password_hash is None:
        await asyncio.to_thread(verify_password, _DUMMY_HASH, password)
        return False
    return await asyncio.to_thread(verify_password, password_hash, password)
