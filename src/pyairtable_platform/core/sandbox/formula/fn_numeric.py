"""Numeric and aggregate functions."""

from __future__ import annotations

import math
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
    InvalidOperation,
)
from typing import Any

from .args import int_arg, number_arg
from .errors import ErrorValue
from .registry import Env, register
from .values import Number, flatten, is_blank


def _decimal(number: Number) -> Decimal:
    # repr() gives the shortest round-tripping digits, so 1.005 stays 1.005.
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


def _round(args: list[Any], mode: str) -> Number | ErrorValue:
    number, precision = number_arg(args[0]), int_arg(args[1])
    if isinstance(number, ErrorValue):
        return number
    if isinstance(precision, ErrorValue):
        return precision
    if isinstance(number, float) and not math.isfinite(number):
        return ErrorValue("not a finite number", code="NaN")
    quantum = Decimal(1).scaleb(-precision)
    try:
        rounded = _decimal(number).quantize(quantum, rounding=mode)
    except InvalidOperation:
        return number  # more digits requested than the number carries
    return int(rounded) if precision <= 0 else float(rounded)


@register("ROUND", 2, 2)
def _round_fn(args: list[Any], env: Env) -> Number | ErrorValue:
    number = number_arg(args[0])
    if isinstance(number, ErrorValue):
        return number
    # Documented: ties are broken by rounding half up toward positive infinity.
    if number >= 0:
        return _round(args, ROUND_HALF_UP)
    negated = _round([-number, args[1]], ROUND_HALF_DOWN)
    return negated if isinstance(negated, ErrorValue) else -negated


@register("ROUNDUP", 2, 2)
def _roundup(args: list[Any], env: Env) -> Number | ErrorValue:
    return _round(args, ROUND_UP)


@register("ROUNDDOWN", 2, 2)
def _rounddown(args: list[Any], env: Env) -> Number | ErrorValue:
    return _round(args, ROUND_DOWN)


def _unary(args: list[Any]) -> Number | ErrorValue:
    return number_arg(args[0])


@register("INT", 1, 1)
def _int(args: list[Any], env: Env) -> Number | ErrorValue:
    number = _unary(args)
    return number if isinstance(number, ErrorValue) else math.floor(number)


@register("ABS", 1, 1)
def _abs(args: list[Any], env: Env) -> Number | ErrorValue:
    number = _unary(args)
    return number if isinstance(number, ErrorValue) else abs(number)


@register("CEILING", 1, 2)
def _ceiling(args: list[Any], env: Env) -> Number | ErrorValue:
    return _to_multiple(args, ROUND_CEILING)


@register("FLOOR", 1, 2)
def _floor(args: list[Any], env: Env) -> Number | ErrorValue:
    return _to_multiple(args, ROUND_FLOOR)


def _to_multiple(args: list[Any], mode: str) -> Number | ErrorValue:
    number = number_arg(args[0])
    significance = number_arg(args[1]) if len(args) == 2 else 1
    if isinstance(number, ErrorValue):
        return number
    if isinstance(significance, ErrorValue):
        return significance
    if significance == 0:
        return 0
    step = _decimal(abs(significance))
    multiple = (_decimal(number) / step).to_integral_value(rounding=mode) * step
    return float(multiple) if multiple != multiple.to_integral_value() else int(multiple)


@register("MOD", 2, 2)
def _mod(args: list[Any], env: Env) -> Number | ErrorValue:
    number, divisor = number_arg(args[0]), number_arg(args[1])
    if isinstance(number, ErrorValue):
        return number
    if isinstance(divisor, ErrorValue):
        return divisor
    if divisor == 0:
        return ErrorValue("MOD by zero")
    # JavaScript's % : the result takes the sign of the dividend.
    if isinstance(number, int) and isinstance(divisor, int):
        remainder = abs(number) % abs(divisor)
        return -remainder if number < 0 else remainder
    return math.fmod(number, divisor)


@register("POWER", 2, 2)
def _power(args: list[Any], env: Env) -> Number | ErrorValue:
    base, exponent = number_arg(args[0]), number_arg(args[1])
    if isinstance(base, ErrorValue):
        return base
    if isinstance(exponent, ErrorValue):
        return exponent
    try:
        result: Number = base**exponent
    except (OverflowError, ZeroDivisionError):
        return ErrorValue("POWER out of range", code="#NUM!")
    if isinstance(result, complex):
        return ErrorValue("POWER has no real result", code="NaN")
    return result


@register("SQRT", 1, 1)
def _sqrt(args: list[Any], env: Env) -> Number | ErrorValue:
    number = _unary(args)
    if isinstance(number, ErrorValue):
        return number
    return ErrorValue("SQRT of a negative number", code="NaN") if number < 0 else math.sqrt(number)


def _numbers(args: list[Any]) -> list[Number]:
    """Numeric items of the (flattened) arguments; text, blanks and booleans are skipped."""
    return [
        item
        for item in flatten(args)
        if isinstance(item, int | float) and not isinstance(item, bool) and not math.isnan(item)
    ]


@register("SUM", 1, None)
def _sum(args: list[Any], env: Env) -> Number:
    return sum(_numbers(args))


@register("MIN", 1, None)
def _min(args: list[Any], env: Env) -> Number:
    numbers = _numbers(args)
    return min(numbers) if numbers else 0


@register("MAX", 1, None)
def _max(args: list[Any], env: Env) -> Number:
    numbers = _numbers(args)
    return max(numbers) if numbers else 0


@register("AVERAGE", 1, None)
def _average(args: list[Any], env: Env) -> Number | ErrorValue:
    numbers = _numbers(args)
    if not numbers:
        return ErrorValue("AVERAGE of no numbers", code="NaN")
    return sum(numbers) / len(numbers)


@register("COUNT", 1, None)
def _count(args: list[Any], env: Env) -> int:
    return len(_numbers(args))


@register("COUNTA", 1, None)
def _counta(args: list[Any], env: Env) -> int:
    return sum(1 for item in flatten(args) if not is_blank(item))


@register("COUNTALL", 1, None)
def _countall(args: list[Any], env: Env) -> int:
    return sum(1 for _ in flatten(args))
