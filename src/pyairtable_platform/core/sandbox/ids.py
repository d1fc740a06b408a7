"""Airtable-shaped ids: a three-letter prefix and 14 alphanumeric characters."""

from __future__ import annotations

import re
import secrets
import string
from typing import Literal

Prefix = Literal["app", "tbl", "fld", "viw", "rec", "com", "att", "usr", "sel", "pat", "itr"]

_ALPHABET = string.ascii_letters + string.digits
ID_LENGTH = 14
_ID = re.compile(r"^(app|tbl|fld|viw|rec|com|att|usr|sel)[A-Za-z0-9]{14}$")


def new_id(prefix: Prefix) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(ID_LENGTH))


def looks_like(value: object, prefix: Prefix) -> bool:
    """True for a well-formed id with this prefix (``looks_like("recAbc...", "rec")``)."""
    return isinstance(value, str) and value.startswith(prefix) and bool(_ID.match(value))


def encode_index(index: int) -> str:
    """A page position hidden in the 14 characters after ``itr`` of an offset."""
    digits = []
    value = index
    while True:
        value, rest = divmod(value, len(_ALPHABET))
        digits.append(_ALPHABET[rest])
        if value == 0:
            break
    return "".join(reversed(digits)).rjust(ID_LENGTH, _ALPHABET[0])


def decode_index(text: str) -> int | None:
    if len(text) != ID_LENGTH or any(ch not in _ALPHABET for ch in text):
        return None
    value = 0
    for ch in text:
        value = value * len(_ALPHABET) + _ALPHABET.index(ch)
    return value
