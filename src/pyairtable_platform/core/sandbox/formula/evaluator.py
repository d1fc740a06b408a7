"""Tree-walking evaluator and compile-time validation."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from . import fn_date, fn_logic, fn_numeric, fn_text  # noqa: F401  (they register functions)
from .context import RecordContext
from .errors import ErrorValue, FormulaError, UnknownFieldError
from .operators import binary, negate
from .parser import Binary, Call, FieldRef, Literal, Node, Unary, calls, field_names
from .registry import FUNCTIONS
from .values import format_iso, parse_datetime, tidy_number

DATE_FIELD_TYPES = frozenset({"date", "dateTime", "createdTime", "lastModifiedTime"})


def validate(tree: Node, known_fields: Collection[str] | None) -> None:
    """Reject what Airtable rejects before running anything: unknown names and arities."""
    for call in calls(tree):
        spec = FUNCTIONS.get(call.name)
        if spec is None:
            raise FormulaError(f"Unknown function {call.name}")
        count = len(call.args)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            raise FormulaError(
                f"{call.name} expects {spec.arity_text()} argument(s) but got {count}"
            )
    if known_fields is not None:
        known = set(known_fields)
        for name in sorted(field_names(tree)):
            if name not in known:
                raise UnknownFieldError(name, sorted(known))


class Evaluator:
    def __init__(self, ctx: RecordContext) -> None:
        self.ctx = ctx
        self.now = ctx.now or datetime.now(UTC)

    def eval(self, node: Node) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, FieldRef):
            return self._field(node.name)
        if isinstance(node, Binary):
            return binary(node.op, self.eval(node.left), self.eval(node.right))
        if isinstance(node, Unary):
            return negate(self.eval(node.operand))
        return self._call(node)

    def _field(self, name: str) -> Any:
        value = self.ctx.fields.get(name)
        if self.ctx.field_types.get(name) in DATE_FIELD_TYPES and isinstance(value, str):
            parsed = parse_datetime(value)
            return parsed if parsed is not None else value
        return value

    def _call(self, node: Call) -> Any:
        spec = FUNCTIONS[node.name]
        if spec.lazy is not None:
            return spec.lazy(node.args, self)
        args = [self.eval(arg) for arg in node.args]
        if spec.propagate_errors:
            for arg in args:
                if isinstance(arg, ErrorValue):
                    return arg
        assert spec.eager is not None
        return spec.eager(args, self)


def to_output(value: Any) -> Any:
    """Shape a result like the API does: dates as ISO strings, whole numbers as ints."""
    if isinstance(value, bool) or value is None or isinstance(value, str | ErrorValue):
        return value
    if isinstance(value, int | float):
        return tidy_number(value)
    if isinstance(value, datetime):
        return format_iso(value)
    if isinstance(value, list | tuple):
        return [to_output(item) for item in value]
    return value
