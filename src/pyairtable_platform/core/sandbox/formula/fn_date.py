"""Date and time functions. All calendar arithmetic happens in UTC (Airtable's GMT default)."""

from __future__ import annotations

import calendar
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from .args import number_arg
from .datefmt import format_datetime, parse_with_format
from .errors import ErrorValue
from .parser import Node
from .registry import Env, register, register_lazy
from .values import format_iso, is_blank, parse_datetime, to_str

_ABBREVIATIONS = {
    "ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days",
    "w": "weeks", "M": "months", "Q": "quarters", "y": "years",
}  # fmt: skip
_UNITS = frozenset(_ABBREVIATIONS.values())
_FIXED = {
    "milliseconds": timedelta(milliseconds=1),
    "seconds": timedelta(seconds=1),
    "minutes": timedelta(minutes=1),
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
    "weeks": timedelta(weeks=1),
}
_MONTHS_PER = {"months": 1, "quarters": 3, "years": 12}


def normalize_unit(value: Any) -> str | None:
    """Moment-style unit names: case-sensitive abbreviations, plural-insensitive words."""
    text = to_str(value).strip()
    if text in _ABBREVIATIONS:
        return _ABBREVIATIONS[text]
    word = text.lower()
    if not word.endswith("s"):
        word += "s"
    return word if word in _UNITS else None


def _date(value: Any) -> datetime | ErrorValue:
    if is_blank(value):
        return ErrorValue("blank date")
    parsed = parse_datetime(value)
    return parsed if parsed is not None else ErrorValue(f"not a date: {to_str(value)!r}")


def add_months(value: datetime, months: int) -> datetime:
    """Calendar month arithmetic that clamps to the last day (Jan 31 + 1 month = Feb 28/29)."""
    index = value.year * 12 + value.month - 1 + months
    year, month = divmod(index, 12)
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def _js_round(number: float) -> int:
    return math.floor(number + 0.5)


@register("DATEADD", 3, 3)
def _dateadd(args: list[Any], env: Env) -> datetime | ErrorValue:
    start, count, unit = _date(args[0]), number_arg(args[1]), normalize_unit(args[2])
    if isinstance(start, ErrorValue):
        return start
    if isinstance(count, ErrorValue):
        return count
    if unit is None:
        return ErrorValue(f"unknown unit {to_str(args[2])!r}")
    try:
        if unit in _MONTHS_PER:
            return add_months(start, _js_round(count * _MONTHS_PER[unit]))
        if unit in ("days", "weeks"):
            # Moment rounds day-based amounts to whole days.
            return start + timedelta(days=_js_round(count * (7 if unit == "weeks" else 1)))
        return start + _FIXED[unit] * count
    except (OverflowError, ValueError):
        return ErrorValue("date out of range")


def months_between(later: datetime, earlier: datetime) -> float:
    """Fractional months from ``earlier`` to ``later``, the way Moment's diff measures them."""
    whole = (later.year - earlier.year) * 12 + (later.month - earlier.month)
    anchor = add_months(earlier, whole)
    if later < anchor:
        previous = add_months(earlier, whole - 1)
        return whole + (later - anchor) / (anchor - previous)
    following = add_months(earlier, whole + 1)
    return whole + (later - anchor) / (following - anchor)


@register("DATETIME_DIFF", 2, 3)
def _datetime_diff(args: list[Any], env: Env) -> int | ErrorValue:
    first, second = _date(args[0]), _date(args[1])
    if isinstance(first, ErrorValue):
        return first
    if isinstance(second, ErrorValue):
        return second
    # Documented: an absent or unrecognised unit means seconds.
    unit = (normalize_unit(args[2]) if len(args) == 3 else None) or "seconds"
    if unit in _MONTHS_PER:
        amount = months_between(first, second) / _MONTHS_PER[unit]
    else:
        amount = (first - second) / _FIXED[unit]
    # Moment's diff() truncates toward zero unless asked for a float.
    return math.trunc(amount)


@register("DATETIME_FORMAT", 1, 2)
def _datetime_format(args: list[Any], env: Env) -> str | ErrorValue:
    value = _date(args[0])
    if isinstance(value, ErrorValue):
        return value
    if len(args) == 1 or is_blank(args[1]):
        return format_iso(value)
    return format_datetime(value, to_str(args[1]))


@register("DATETIME_PARSE", 1, 3)
def _datetime_parse(args: list[Any], env: Env) -> datetime | ErrorValue:
    if len(args) >= 2 and not is_blank(args[1]):
        if isinstance(args[0], datetime):
            return args[0]
        parsed = parse_with_format(to_str(args[0]), to_str(args[1]))
        if parsed is None:
            return ErrorValue(f"cannot parse {to_str(args[0])!r} as {to_str(args[1])!r}")
        return parsed
    return _date(args[0])


@register("DATESTR", 1, 1)
def _datestr(args: list[Any], env: Env) -> str | ErrorValue:
    value = _date(args[0])
    return value if isinstance(value, ErrorValue) else value.strftime("%Y-%m-%d")


def _component(name: str, attribute: str) -> None:
    def impl(args: list[Any], env: Env) -> int | ErrorValue:
        value = _date(args[0])
        return value if isinstance(value, ErrorValue) else int(getattr(value, attribute))

    register(name, 1, 1)(impl)


for _name, _attribute in (
    ("YEAR", "year"), ("MONTH", "month"), ("DAY", "day"),
    ("HOUR", "hour"), ("MINUTE", "minute"), ("SECOND", "second"),
):  # fmt: skip
    _component(_name, _attribute)


@register("WEEKDAY", 1, 2)
def _weekday(args: list[Any], env: Env) -> int | ErrorValue:
    value = _date(args[0])
    if isinstance(value, ErrorValue):
        return value
    start = to_str(args[1]).strip().lower() if len(args) == 2 else "sunday"
    if start == "monday":
        return value.weekday()
    return value.isoweekday() % 7


@register("WEEKNUM", 1, 2)
def _weeknum(args: list[Any], env: Env) -> int | ErrorValue:
    value = _date(args[0])
    if isinstance(value, ErrorValue):
        return value
    monday = len(args) == 2 and to_str(args[1]).strip().lower() == "monday"
    jan1 = value.replace(month=1, day=1)
    jan1_offset = jan1.weekday() if monday else jan1.isoweekday() % 7
    return (value.timetuple().tm_yday - 1 + jan1_offset) // 7 + 1


@register("TODAY", 0, 0)
def _today(args: list[Any], env: Env) -> datetime:
    return env.now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@register("NOW", 0, 0)
def _now(args: list[Any], env: Env) -> datetime:
    return env.now


def _pair(args: list[Any]) -> tuple[datetime, datetime] | ErrorValue:
    first, second = _date(args[0]), _date(args[1])
    if isinstance(first, ErrorValue):
        return first
    if isinstance(second, ErrorValue):
        return second
    return first, second


@register("IS_BEFORE", 2, 2)
def _is_before(args: list[Any], env: Env) -> bool | ErrorValue:
    pair = _pair(args)
    return pair if isinstance(pair, ErrorValue) else pair[0] < pair[1]


@register("IS_AFTER", 2, 2)
def _is_after(args: list[Any], env: Env) -> bool | ErrorValue:
    pair = _pair(args)
    return pair if isinstance(pair, ErrorValue) else pair[0] > pair[1]


def start_of(value: datetime, unit: str) -> datetime:
    if unit == "milliseconds":
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if unit == "weeks":
        day = value - timedelta(days=value.isoweekday() % 7)
        return day.replace(hour=0, minute=0, second=0, microsecond=0)
    fields = ("years", "quarters", "months", "days", "hours", "minutes", "seconds")
    keep = fields.index(unit)
    month = value.month
    if unit == "quarters":
        month = (month - 1) // 3 * 3 + 1
    return value.replace(
        month=month if keep >= 1 else 1,
        day=value.day if keep >= 3 else 1,
        hour=value.hour if keep >= 4 else 0,
        minute=value.minute if keep >= 5 else 0,
        second=value.second if keep >= 6 else 0,
        microsecond=0,
    )


@register("IS_SAME", 2, 3)
def _is_same(args: list[Any], env: Env) -> bool | ErrorValue:
    pair = _pair(args)
    if isinstance(pair, ErrorValue):
        return pair
    if len(args) < 3 or is_blank(args[2]):
        return start_of(pair[0], "milliseconds") == start_of(pair[1], "milliseconds")
    unit = normalize_unit(args[2])
    if unit is None:
        return ErrorValue(f"unknown unit {to_str(args[2])!r}")
    return start_of(pair[0], unit) == start_of(pair[1], unit)


@register("CREATED_TIME", 0, 0)
def _created_time(args: list[Any], env: Env) -> datetime | None:
    return env.ctx.created_time


@register_lazy("LAST_MODIFIED_TIME", 0, None)
def _last_modified_time(args: tuple[Node, ...], env: Env) -> datetime | None:
    # Per-field modification times are not tracked; the record-level time stands in.
    return env.ctx.last_modified_time or env.ctx.created_time


@register("RECORD_ID", 0, 0)
def _record_id(args: list[Any], env: Env) -> str:
    return env.ctx.record_id
