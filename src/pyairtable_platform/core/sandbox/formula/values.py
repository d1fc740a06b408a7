"""Value model and Airtable coercion rules.

Runtime values are plain Python objects: ``None`` (blank), ``str``, ``int``/``float``,
``bool``, aware UTC ``datetime``, ``list`` (lookups, linked records, multiple selects),
``dict`` (attachments, collaborators) and :class:`ErrorValue`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import ErrorValue

Number = int | float

_JS_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def is_blank(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, list) and not value)


def flatten(values: Any) -> Iterator[Any]:
    """Yield the scalars of nested lists; a scalar yields itself."""
    if isinstance(values, list | tuple):
        for item in values:
            yield from flatten(item)
    else:
        yield values


def first_error(values: Any) -> ErrorValue | None:
    for value in flatten(values):
        if isinstance(value, ErrorValue):
            return value
    return None


def number_to_str(value: Number) -> str:
    """Render a number the way JavaScript's ``String(number)`` does."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa.removesuffix('.0')}e{sign}{exponent.lstrip('+-').lstrip('0')}"
    return text


def format_iso(value: datetime) -> str:
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond // 1000:03d}Z"


def _dict_to_str(value: dict[str, Any]) -> str:
    if "filename" in value and "url" in value:
        return f"{value['filename']} ({value['url']})"
    for key in ("name", "label", "email", "id"):
        if isinstance(value.get(key), str):
            return str(value[key])
    return str(value)


def to_str(value: Any) -> str:
    """String context (``&``, text functions): blank is "", arrays join with ", "."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        # Airtable documents TRUE as "represented numerically by a 1".
        return "1" if value else "0"
    if isinstance(value, int | float):
        return number_to_str(value)
    if isinstance(value, datetime):
        return format_iso(value)
    if isinstance(value, list | tuple):
        return ", ".join(to_str(item) for item in value)
    if isinstance(value, dict):
        return _dict_to_str(value)
    return str(value)


def parse_number_text(text: str) -> float | None:
    """JavaScript ``Number(text)``: surrounding whitespace allowed, "" is 0, junk is NaN."""
    stripped = text.strip()
    if not stripped:
        return 0.0
    if _JS_NUMBER.fullmatch(stripped):
        return float(stripped)
    return None


def to_number(value: Any) -> Number | None:
    """Numeric context: blank is 0, booleans are 1/0; ``None`` return means NaN."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else value
    if isinstance(value, str):
        return parse_number_text(value)
    if isinstance(value, list | tuple):
        items = list(flatten(value))
        if not items:
            return 0
        if len(items) == 1:
            return to_number(items[0])
        return None
    return None


def truthy(value: Any) -> bool:
    if value is None or isinstance(value, ErrorValue):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str | list | tuple):
        return len(value) > 0
    return True


def tidy_number(value: Number) -> Number | ErrorValue:
    """Integral floats become ints so callers see ``3`` rather than ``3.0``."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return ErrorValue("not a finite number")
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
    return value


# --- dates -----------------------------------------------------------------

_ISO = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
_SLASHED = re.compile(
    r"(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})"
    r"(?:[T ,]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([ap]m)?)?",
    re.IGNORECASE,
)
MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_MONTH_WORDS = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+)?"
    r"(?:(\d{1,2})\s+([a-z]+)\.?,?\s+(\d{4})|([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4}))"
    r"(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([ap]m)?)?",
    re.IGNORECASE,
)


def month_from_name(name: str) -> int | None:
    lowered = name.lower()
    if len(lowered) < 3:
        return None
    for index, full in enumerate(MONTH_NAMES):
        if full.startswith(lowered):
            return index + 1
    return None


def _offset(text: str | None) -> timedelta:
    if not text or text.upper() == "Z":
        return timedelta(0)
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))


def _hour12(hour: int, meridiem: str | None) -> int:
    if not meridiem:
        return hour
    hour %= 12
    return hour + 12 if meridiem.lower() == "pm" else hour


def build_datetime(
    ymd: tuple[int, int, int],
    hms: tuple[int, int, int] = (0, 0, 0),
    micro: int = 0,
    offset: timedelta = timedelta(0),
) -> datetime | None:
    """An aware UTC datetime from wall-clock parts at ``offset``; ``None`` if invalid."""
    try:
        naive = datetime(*ymd, *hms, micro)
    except ValueError:
        return None
    return (naive - offset).replace(tzinfo=UTC)


def _parse_iso(match: re.Match[str]) -> datetime | None:
    year, month, day, hour, minute, second, frac, zone = match.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    return build_datetime(
        (int(year), int(month), int(day)),
        (int(hour or 0), int(minute or 0), int(second or 0)),
        micro,
        _offset(zone),
    )


def _parse_slashed(match: re.Match[str]) -> datetime | None:
    first, second_part, third, hour, minute, second, meridiem = match.groups()
    if len(first) == 4:
        year, month, day = int(first), int(second_part), int(third)
    else:
        # US order (M/D/Y), as Airtable's default (en-US) parsing does.
        month, day, year = int(first), int(second_part), int(third)
        if len(third) <= 2:
            year += 2000 if year < 69 else 1900
    return build_datetime(
        (year, month, day), (_hour12(int(hour or 0), meridiem), int(minute or 0), int(second or 0))
    )


def _parse_words(match: re.Match[str]) -> datetime | None:
    day1, month1, year1, month2, day2, year2, hour, minute, second, meridiem = match.groups()
    month = month_from_name(month1 or month2)
    if month is None:
        return None
    return build_datetime(
        (int(year1 or year2), month, int(day1 or day2)),
        (_hour12(int(hour or 0), meridiem), int(minute or 0), int(second or 0)),
    )


def parse_datetime(value: Any) -> datetime | None:
    """Interpret a value as a point in time (UTC); ``None`` when it is not one."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, list | tuple):
        items = [item for item in flatten(value) if not is_blank(item)]
        return parse_datetime(items[0]) if len(items) == 1 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    for pattern, builder in (
        (_ISO, _parse_iso),
        (_SLASHED, _parse_slashed),
        (_MONTH_WORDS, _parse_words),
    ):
        match = pattern.fullmatch(text)
        if match:
            return builder(match)
    return None
