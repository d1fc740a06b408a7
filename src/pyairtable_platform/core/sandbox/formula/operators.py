"""Binary and unary operator semantics."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .errors import ErrorValue
from .values import Number, is_blank, parse_datetime, to_number, to_str

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _scalar(value: Any) -> Any:
    """Arrays and objects take part in comparisons as their joined string form."""
    if isinstance(value, list | tuple):
        return None if is_blank(value) else to_str(value)
    if isinstance(value, dict):
        return to_str(value)
    return value


def _error_of(left: Any, right: Any) -> ErrorValue | None:
    if isinstance(left, ErrorValue):
        return left
    if isinstance(right, ErrorValue):
        return right
    return None


def equals(left: Any, right: Any) -> bool | ErrorValue:
    error = _error_of(left, right)
    if error is not None:
        return error
    left, right = _scalar(left), _scalar(right)
    if isinstance(left, datetime) or isinstance(right, datetime):
        if left is None or right is None:
            return False
        left_dt, right_dt = parse_datetime(left), parse_datetime(right)
        if left_dt is not None and right_dt is not None:
            return left_dt == right_dt
        return to_str(left) == to_str(right)
    if left is None or right is None:
        other = right if left is None else left
        if other is None or isinstance(other, str):
            return other is None or other == ""
        # Airtable treats blank as 0 here: BLANK() = 0 is true.
        return to_number(other) == 0
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    left_num, right_num = to_number(left), to_number(right)
    if left_num is None or right_num is None:
        return False
    return left_num == right_num


def not_equals(left: Any, right: Any) -> bool | ErrorValue:
    result = equals(left, right)
    return result if isinstance(result, ErrorValue) else not result


def order(op: str, left: Any, right: Any) -> bool | ErrorValue:
    error = _error_of(left, right)
    if error is not None:
        return error
    compare = _ORDERINGS[op]
    left, right = _scalar(left), _scalar(right)
    if isinstance(left, datetime) or isinstance(right, datetime):
        left_dt = _EPOCH if left is None else parse_datetime(left)
        right_dt = _EPOCH if right is None else parse_datetime(right)
        if left_dt is None or right_dt is None:
            return False
        return compare(left_dt, right_dt)
    if isinstance(left, str) and isinstance(right, str):
        return compare(left, right)
    left_num, right_num = to_number(left), to_number(right)
    if left_num is None or right_num is None:
        return False
    return compare(left_num, right_num)


def arithmetic(op: str, left: Any, right: Any) -> Number | ErrorValue:
    error = _error_of(left, right)
    if error is not None:
        return error
    if isinstance(left, datetime) or isinstance(right, datetime):
        return ErrorValue("use DATEADD/DATETIME_DIFF for date arithmetic")
    left_num, right_num = to_number(left), to_number(right)
    if left_num is None or right_num is None:
        return ErrorValue("non-numeric operand", code="NaN")
    if op == "+":
        return left_num + right_num
    if op == "-":
        return left_num - right_num
    if op == "*":
        return left_num * right_num
    if right_num == 0:
        return ErrorValue("division by zero")
    return left_num / right_num


def negate(value: Any) -> Number | ErrorValue:
    if isinstance(value, ErrorValue):
        return value
    number = to_number(value)
    if number is None or isinstance(value, datetime):
        return ErrorValue("non-numeric operand", code="NaN")
    return -number


def concat(left: Any, right: Any) -> str | ErrorValue:
    error = _error_of(left, right)
    if error is not None:
        return error
    return to_str(left) + to_str(right)


def binary(op: str, left: Any, right: Any) -> Any:
    if op == "=":
        return equals(left, right)
    if op == "!=":
        return not_equals(left, right)
    if op in _ORDERINGS:
        return order(op, left, right)
    if op == "&":
        return concat(left, right)
    return arithmetic(op, left, right)
