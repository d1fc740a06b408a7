"""Human-readable and structured diffs of a write, for previews, the action list and chat."""

from __future__ import annotations

from typing import Any

MAX_LINES = 25
MAX_VALUE = 80

# Fields Airtable computes: never written, never restored, never compared.
COMPUTED_TYPES = frozenset(
    {
        "formula",
        "rollup",
        "count",
        "multipleLookupValues",
        "lookup",
        "createdTime",
        "lastModifiedTime",
        "autoNumber",
        "createdBy",
        "lastModifiedBy",
        "button",
        "externalSyncSource",
        "aiText",
    }
)


def show(value: Any) -> str:
    if value is None or value in ([], ""):
        return "(empty)"
    if isinstance(value, list):
        parts = [
            str(v.get("url") or v.get("name") or v.get("id")) if isinstance(v, dict) else str(v)
            for v in value
        ]
        text = ", ".join(parts)
    elif isinstance(value, dict):
        text = str(value.get("name") or value.get("url") or value)
    else:
        text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def record_changes(
    record_id: str | None,
    before: dict[str, Any] | None,
    proposed: dict[str, Any],
    *,
    replace: bool = False,
    writable: set[str] | None = None,
) -> dict[str, Any]:
    """``{"id", "changes": {field: {"before", "after"}}}`` for the fields that change."""
    old = before or {}
    names = set(proposed)
    if replace and writable is not None:
        names |= {name for name in old if name in writable}
    changes = {
        name: {"before": old.get(name), "after": proposed.get(name)}
        for name in sorted(names)
        if old.get(name) != proposed.get(name)
    }
    return {"id": record_id, "changes": changes}


def summarize(
    operation: str,
    table: str,
    diff: list[dict[str, Any]],
    *,
    primary: dict[str, str] | None = None,
    extra: str | None = None,
) -> str:
    """A few lines a person can read before approving."""
    n = len(diff)
    noun = "record" if n == 1 else "records"
    head = {
        "create": f"Create {n} {noun} in {table}",
        "update": f"Update {n} {noun} in {table}",
        "delete": f"Delete {n} {noun} from {table}",
        "upsert": f"Upsert {n} {noun} in {table}",
        "revert": f"Revert {n} {noun} in {table}",
    }.get(operation, f"{operation.replace('_', ' ').capitalize()} in {table}")
    lines = [
        head + (f" ({extra})" if extra else "") + ":"
        if diff
        else head + (f" ({extra})" if extra else "")
    ]
    for item in diff[:MAX_LINES]:
        rid = item.get("id")
        label = rid or "new record"
        if primary and rid and primary.get(rid):
            label = f"{rid} ({show(primary[rid])})"
        if operation == "delete":
            lines.append(f"- {label}")
            continue
        changes = item.get("changes") or {}
        if not changes:
            lines.append(f"- {label}: no change")
            continue
        parts = [
            f"{name}: {show(change['before'])} → {show(change['after'])}"
            if rid
            else f"{name} = {show(change['after'])}"
            for name, change in changes.items()
        ]
        lines.append(f"- {label}: " + "; ".join(parts))
    if n > MAX_LINES:
        lines.append(f"… and {n - MAX_LINES} more")
    return "\n".join(lines)
