"""Argument coercion helpers shared by function implementations."""

from __future__ import annotations

import math
from typing import Any

from .errors import ErrorValue
from .values import Number, to_number


def number_arg(value: Any) -> Number | ErrorValue:
    number = to_number(value)
    if number is None:
        return ErrorValue(f"expected a number, got {value!r}", code="NaN")
    return number


def int_arg(value: Any) -> int | ErrorValue:
    number = number_arg(value)
    if isinstance(number, ErrorValue):
        return number
    return math.trunc(number)
