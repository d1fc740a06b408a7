"""Turning an Airtable record into the text search reads.

Every value becomes words: strings as they are, numbers as written, attachments by file
name, collaborators by name and email, lookups and rollups by their values, and linked
records by the primary values of the records they link to (resolved from the mirror), so
that searching for a customer's name finds the deals linking to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Keeps one pathological cell (a huge long-text field) from making a record's text, and
# its tsvector, enormous; PostgreSQL refuses tsvectors over 1 MB.
MAX_TEXT = 200_000


def words(value: Any) -> Iterable[str]:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, int | float):
        yield str(value)
    elif isinstance(value, list):
        for item in value:
            yield from words(item)
    elif isinstance(value, dict):
        if "error" in value or "specialValue" in value:
            return
        for key in ("filename", "name", "email", "text"):
            if isinstance(value.get(key), str):
                yield value[key]


def primary_text(fields: Mapping[str, Any], primary_name: str | None) -> str:
    if not primary_name:
        return ""
    return " ".join(words(fields.get(primary_name)))[:2000]


def searchable_text(
    fields: Mapping[str, Any],
    *,
    primary_name: str | None,
    link_fields: set[str],
    names: Mapping[str, str],
) -> str:
    """All values but the primary one (it has its own weighted column), links resolved."""
    parts: list[str] = []
    for name, value in fields.items():
        if name == primary_name:
            continue
        if name in link_fields and isinstance(value, list):
            parts.extend(names.get(v, "") for v in value if isinstance(v, str))
        else:
            parts.extend(words(value))
    return " ".join(p for p in parts if p)[:MAX_TEXT]


def linked_ids(fields: Mapping[str, Any], link_fields: set[str]) -> set[str]:
    out: set[str] = set()
    for name in link_fields:
        value = fields.get(name)
        if isinstance(value, list):
            out.update(v for v in value if isinstance(v, str))
    return out
