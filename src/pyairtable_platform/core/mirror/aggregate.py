"""Exact aggregates over a mirrored table, as one SQL statement.

Field names reach SQL only as bound parameters (``fields -> :f0``), never as text, so any
name is safe. How a value is read depends on the field's type: numbers (and formulas,
rollups whose result is a number) as ``numeric``, checkboxes as booleans, everything else
as text (ISO dates sort correctly as text).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pyairtable_platform.core.airtable.schemas import Filter, Metric
from pyairtable_platform.core.mirror.repository import WS

NUMERIC_TYPES = frozenset(
    {"number", "currency", "percent", "rating", "duration", "autoNumber", "count"}
)
COMPUTED_TYPES = frozenset({"formula", "rollup"})


def is_numeric(field_type: str, options: dict[str, Any]) -> bool:
    if field_type in NUMERIC_TYPES:
        return True
    if field_type in COMPUTED_TYPES:
        result = options.get("result") or {}
        return isinstance(result, dict) and result.get("type") in NUMERIC_TYPES
    return False


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str
    options: dict[str, Any]

    @property
    def numeric(self) -> bool:
        return is_numeric(self.type, self.options)


@dataclass
class AggregateQuery:
    sql: str
    params: dict[str, Any]
    labels: list[str]
    group_labels: list[str]
    count_sql: str


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f":{name}"


def _num(ref: str) -> str:
    return f"(CASE WHEN jsonb_typeof({ref}) = 'number' THEN ({ref})::numeric END)"


def _text(ref: str) -> str:
    # A one-element array (a lookup of one value) reads as that value.
    return (
        f"(CASE jsonb_typeof({ref}) WHEN 'string' THEN {ref} #>> '{{}}'"
        f" WHEN 'array' THEN (CASE WHEN jsonb_array_length({ref}) = 1"
        f" THEN {ref} ->> 0 ELSE ({ref})::text END)"
        f" WHEN 'null' THEN NULL ELSE ({ref})::text END)"
    )


def _empty(ref: str) -> str:
    return f"({ref} IS NULL OR {ref} IN ('\"\"'::jsonb, '[]'::jsonb, 'false'::jsonb))"


def _filter(f: Filter, info: FieldInfo, ref: str, p: _Params) -> str:
    op, value = f.op, f.value
    if op == "empty":
        return _empty(ref)
    if op == "not_empty":
        return f"NOT {_empty(ref)}"
    if op == "contains":
        pattern = "%" + str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"({ref})::text ILIKE {p.add(pattern + '%')}"
    compare = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
    if info.type == "checkbox":
        expr = f"coalesce(({ref})::text = 'true', false)"
        return f"{expr} {compare} {p.add(bool(value))}"
    if info.numeric:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"field {info.name!r} is a number; {value!r} is not") from None
        # Compared as numeric, like the values: exact (a float parameter would turn every
        # row's value into a float8) and one conversion fewer per row.
        exact = value if isinstance(value, int) and not isinstance(value, bool) else repr(number)
        bound = f"CAST({p.add(Decimal(exact))} AS numeric)"
        expr = _num(ref)
        if op == "ne":
            return f"({expr} IS NULL OR {expr} <> {bound})"
        return f"{expr} {compare} {bound}"
    if value is None:
        return _empty(ref) if op == "eq" else f"NOT {_empty(ref)}"
    if op in ("eq", "ne"):
        # Text equality ignores case, as Airtable's UI filters do; arrays (multiple selects,
        # lookups) match when any element equals the value.
        expr = f"lower({_text(ref)}) = lower({p.add(str(value))})"
        any_el = (
            f"(jsonb_typeof({ref}) = 'array' AND EXISTS (SELECT 1 FROM"
            f" jsonb_array_elements_text({ref}) e WHERE lower(e) = lower({p.add(str(value))})))"
        )
        match = f"({expr} OR {any_el})"
        return match if op == "eq" else f"NOT coalesce({match}, false)"
    return f"{_text(ref)} {compare} {p.add(str(value))}"


def build(
    *,
    base_id: str,
    table_id: str,
    metrics: list[Metric],
    group_by: list[FieldInfo],
    filters: list[tuple[Filter, FieldInfo]],
    metric_fields: dict[str, FieldInfo],
    limit: int,
) -> AggregateQuery:
    p = _Params()
    where = [
        f"r.workspace_id = {WS}",
        f"r.base_id = {p.add(base_id)}",
        f"r.table_id = {p.add(table_id)}",
    ]
    for flt, info in filters:
        ref = f"r.fields -> {p.add(info.name)}"
        where.append(_filter(flt, info, ref, p))
    selects: list[str] = []
    labels: list[str] = []
    for i, metric in enumerate(metrics):
        labels.append(metric.label)
        if metric.op == "count" and not metric.field:
            selects.append(f"count(*) AS m{i}")
            continue
        info = metric_fields[metric.field or ""]
        ref = f"r.fields -> {p.add(info.name)}"
        if metric.op == "count":
            selects.append(f"count(*) FILTER (WHERE NOT {_empty(ref)}) AS m{i}")
        elif metric.op == "count_distinct":
            selects.append(f"count(DISTINCT {ref}) FILTER (WHERE NOT {_empty(ref)}) AS m{i}")
        elif metric.op in ("sum", "avg"):
            if not info.numeric:
                raise ValueError(f"{metric.op} needs a number field; {info.name!r} is {info.type}")
            selects.append(f"{metric.op}({_num(ref)}) AS m{i}")
        else:  # min / max
            expr = _num(ref) if info.numeric else _text(ref)
            selects.append(f"{metric.op}({expr}) AS m{i}")
    group_exprs = []
    group_labels = []
    for j, info in enumerate(group_by):
        ref = f"r.fields -> {p.add(info.name)}"
        group_exprs.append(f"{ref} AS g{j}")
        group_labels.append(info.name)
    select_list = ", ".join([*group_exprs, *selects, "count(*) AS n"])
    sql = f"SELECT {select_list} FROM airtable_records r WHERE {' AND '.join(where)}"
    count_sql = f"SELECT count(*) AS n FROM airtable_records r WHERE {' AND '.join(where)}"
    if group_by:
        sql += " GROUP BY " + ", ".join(str(j + 1) for j in range(len(group_by)))
        sql += f" ORDER BY n DESC, 1 LIMIT {p.add(limit + 1)}"
    return AggregateQuery(sql, p.values, labels, group_labels, count_sql)
