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


class _Values:
    """Each field's value read from ``fields`` once per record, whatever uses it.

    ``fields -> :f`` finds a key in the record's JSON; a metric over a number reads it
    twice (type check, then value), and sum + avg + a filter on one field would read it
    six times. The scan projects ``v0, v1, ...`` once and the aggregates, filters and
    groups use those columns (``OFFSET 0`` keeps PostgreSQL from folding the projection
    back into each use).
    """

    def __init__(self, p: _Params) -> None:
        self.p = p
        self.columns: dict[str, str] = {}

    def ref(self, info: FieldInfo) -> str:
        if info.name not in self.columns:
            self.columns[info.name] = f"v{len(self.columns)}"
        return f"r.{self.columns[info.name]}"

    def projection(self) -> str:
        return ", ".join(
            f"r.fields -> {self.p.add(name)} AS {column}" for name, column in self.columns.items()
        )


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
    scope = [
        f"r.workspace_id = {WS}",
        f"r.base_id = {p.add(base_id)}",
        f"r.table_id = {p.add(table_id)}",
    ]
    values = _Values(p)
    where = [_filter(flt, info, values.ref(info), p) for flt, info in filters]
    selects: list[str] = []
    labels: list[str] = []
    for i, metric in enumerate(metrics):
        labels.append(metric.label)
        if metric.op == "count" and not metric.field:
            selects.append(f"count(*) AS m{i}")
            continue
        info = metric_fields[metric.field or ""]
        ref = values.ref(info)
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
        # Grouped by the value's JSON text, turned back into JSON once per group: hashing
        # text is cheap, hashing jsonb walks the value (~0.4 s more over a million records).
        group_exprs.append(f"({values.ref(info)})::text AS g{j}")
        group_labels.append(info.name)
    projection = values.projection() or "1 AS v"
    rows = f"(SELECT {projection} FROM airtable_records r WHERE {' AND '.join(scope)} OFFSET 0) r"
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    select_list = ", ".join([*group_exprs, *selects, "count(*) AS n"])
    sql = f"SELECT {select_list} FROM {rows}{condition}"
    count_sql = f"SELECT count(*) AS n FROM {rows}{condition}"
    if group_by:
        keys = [f"CAST(g.g{j} AS jsonb)" for j in range(len(group_by))]
        outer = [f"{key} AS g{j}" for j, key in enumerate(keys)]
        outer += [f"g.m{i}" for i in range(len(metrics))] + ["g.n"]
        sql += " GROUP BY " + ", ".join(str(j + 1) for j in range(len(group_by)))
        sql = (
            f"SELECT {', '.join(outer)} FROM ({sql}) g"
            f" ORDER BY g.n DESC, {keys[0]} LIMIT {p.add(limit + 1)}"
        )
    return AggregateQuery(sql, p.values, labels, group_labels, count_sql)
