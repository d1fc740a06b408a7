"""Moment.js-style format tokens for DATETIME_FORMAT and DATETIME_PARSE (en locale, UTC)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from .values import MONTH_NAMES, build_datetime, month_from_name

_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_LOCALE_FORMATS = {
    "LT": "h:mm A",
    "LTS": "h:mm:ss A",
    "L": "MM/DD/YYYY",
    "LL": "MMMM D, YYYY",
    "LLL": "MMMM D, YYYY h:mm A",
    "LLLL": "dddd, MMMM D, YYYY h:mm A",
    "l": "M/D/YYYY",
    "ll": "MMM D, YYYY",
    "lll": "MMM D, YYYY h:mm A",
    "llll": "ddd, MMM D, YYYY h:mm A",
}


def ordinal(number: int) -> str:
    if 11 <= number % 100 <= 13:
        return f"{number}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _sunday_index(value: datetime) -> int:
    return value.isoweekday() % 7


def _locale_week(value: datetime) -> int:
    # en locale: weeks start on Sunday and week 1 is the one containing January 1st.
    saturday = value.date() + timedelta(days=6 - _sunday_index(value))
    return (saturday - saturday.replace(month=1, day=1)).days // 7 + 1


def _hour12(value: datetime) -> int:
    return value.hour % 12 or 12


_FORMATTERS: dict[str, Callable[[datetime], str]] = {
    "YYYY": lambda d: f"{d.year:04d}",
    "YY": lambda d: f"{d.year % 100:02d}",
    "Q": lambda d: str((d.month - 1) // 3 + 1),
    "Qo": lambda d: ordinal((d.month - 1) // 3 + 1),
    "M": lambda d: str(d.month),
    "Mo": lambda d: ordinal(d.month),
    "MM": lambda d: f"{d.month:02d}",
    "MMM": lambda d: MONTH_NAMES[d.month - 1][:3].title(),
    "MMMM": lambda d: MONTH_NAMES[d.month - 1].title(),
    "D": lambda d: str(d.day),
    "Do": lambda d: ordinal(d.day),
    "DD": lambda d: f"{d.day:02d}",
    "DDD": lambda d: str(d.timetuple().tm_yday),
    "DDDo": lambda d: ordinal(d.timetuple().tm_yday),
    "DDDD": lambda d: f"{d.timetuple().tm_yday:03d}",
    "d": lambda d: str(_sunday_index(d)),
    "do": lambda d: ordinal(_sunday_index(d)),
    "dd": lambda d: _DAY_NAMES[_sunday_index(d)][:2],
    "ddd": lambda d: _DAY_NAMES[_sunday_index(d)][:3],
    "dddd": lambda d: _DAY_NAMES[_sunday_index(d)],
    "e": lambda d: str(_sunday_index(d)),
    "E": lambda d: str(d.isoweekday()),
    "w": lambda d: str(_locale_week(d)),
    "wo": lambda d: ordinal(_locale_week(d)),
    "ww": lambda d: f"{_locale_week(d):02d}",
    "W": lambda d: str(d.isocalendar().week),
    "Wo": lambda d: ordinal(d.isocalendar().week),
    "WW": lambda d: f"{d.isocalendar().week:02d}",
    "GGGG": lambda d: f"{d.isocalendar().year:04d}",
    "A": lambda d: "AM" if d.hour < 12 else "PM",
    "a": lambda d: "am" if d.hour < 12 else "pm",
    "H": lambda d: str(d.hour),
    "HH": lambda d: f"{d.hour:02d}",
    "h": lambda d: str(_hour12(d)),
    "hh": lambda d: f"{_hour12(d):02d}",
    "k": lambda d: str(d.hour or 24),
    "kk": lambda d: f"{d.hour or 24:02d}",
    "m": lambda d: str(d.minute),
    "mm": lambda d: f"{d.minute:02d}",
    "s": lambda d: str(d.second),
    "ss": lambda d: f"{d.second:02d}",
    "S": lambda d: str(d.microsecond // 100000),
    "SS": lambda d: f"{d.microsecond // 10000:02d}",
    "SSS": lambda d: f"{d.microsecond // 1000:03d}",
    "Z": lambda d: "+00:00",
    "ZZ": lambda d: "+0000",
    "X": lambda d: str(int(d.timestamp())),
    "x": lambda d: str(int(d.timestamp() * 1000)),
}
_TOKENS = sorted([*_FORMATTERS, *_LOCALE_FORMATS], key=len, reverse=True)


def _scan(fmt: str) -> Iterator[tuple[bool, str]]:
    """Yield ``(is_token, text)`` pieces; ``[...]`` and unknown characters are literal."""
    index = 0
    while index < len(fmt):
        if fmt[index] == "[":
            end = fmt.find("]", index + 1)
            if end >= 0:
                yield False, fmt[index + 1 : end]
                index = end + 1
                continue
        token = next((t for t in _TOKENS if fmt.startswith(t, index)), None)
        if token is None:
            yield False, fmt[index]
            index += 1
        else:
            yield True, token
            index += len(token)


def format_datetime(value: datetime, fmt: str) -> str:
    utc = value.astimezone(UTC)
    parts: list[str] = []
    for is_token, text in _scan(fmt):
        if not is_token:
            parts.append(text)
        elif text in _LOCALE_FORMATS:
            parts.append(format_datetime(utc, _LOCALE_FORMATS[text]))
        else:
            parts.append(_FORMATTERS[text](utc))
    return "".join(parts)


_NUM2 = r"(\d{1,2})"
_PARSE_PATTERNS: dict[str, tuple[str, str | None]] = {
    "YYYY": (r"(\d{4})", "year"),
    "YY": (r"(\d{2})", "year2"),
    "M": (_NUM2, "month"),
    "MM": (_NUM2, "month"),
    "Mo": (r"(\d{1,2})(?:st|nd|rd|th)", "month"),
    "MMM": (r"([A-Za-z]+)\.?", "month_name"),
    "MMMM": (r"([A-Za-z]+)", "month_name"),
    "D": (_NUM2, "day"),
    "DD": (_NUM2, "day"),
    "Do": (r"(\d{1,2})(?:st|nd|rd|th)", "day"),
    "ddd": (r"[A-Za-z]+", None),
    "dddd": (r"[A-Za-z]+", None),
    "H": (_NUM2, "hour"),
    "HH": (_NUM2, "hour"),
    "h": (_NUM2, "hour"),
    "hh": (_NUM2, "hour"),
    "k": (_NUM2, "hour"),
    "kk": (_NUM2, "hour"),
    "m": (_NUM2, "minute"),
    "mm": (_NUM2, "minute"),
    "s": (_NUM2, "second"),
    "ss": (_NUM2, "second"),
    "S": (r"(\d)", "fraction"),
    "SS": (r"(\d{2})", "fraction"),
    "SSS": (r"(\d{3})", "fraction"),
    "A": (r"([AaPp][Mm])", "meridiem"),
    "a": (r"([AaPp][Mm])", "meridiem"),
    "Z": (r"(Z|[+-]\d{2}:?\d{2})", "zone"),
    "ZZ": (r"(Z|[+-]\d{2}:?\d{2})", "zone"),
    "X": (r"(-?\d+(?:\.\d+)?)", "unix"),
    "x": (r"(-?\d+)", "unix_ms"),
}


def _compile_parse_format(fmt: str) -> tuple[re.Pattern[str], list[str]]:
    regex: list[str] = [r"\s*"]
    roles: list[str] = []
    for is_token, text in _scan(fmt):
        if is_token and text in _LOCALE_FORMATS:
            sub_regex, sub_roles = _compile_parse_format(_LOCALE_FORMATS[text])
            regex.append(sub_regex.pattern)
            roles.extend(sub_roles)
        elif is_token and text in _PARSE_PATTERNS:
            pattern, role = _PARSE_PATTERNS[text]
            regex.append(pattern)
            if role is not None:
                roles.append(role)
        elif text.isalnum():
            regex.append(re.escape(text))
        else:
            # Moment's forgiving mode: any run of separators matches any other.
            regex.append(r"[\W_]*")
    return re.compile("".join(regex), re.IGNORECASE), roles


def parse_with_format(text: str, fmt: str) -> datetime | None:
    """Parse ``text`` laid out as ``fmt``; missing parts default like Moment (Jan 1st, 00:00)."""
    pattern, roles = _compile_parse_format(fmt)
    match = pattern.match(text)
    if match is None:
        return None
    found = dict(zip(roles, match.groups(), strict=True))
    if "unix" in found:
        return datetime.fromtimestamp(float(found["unix"]), UTC)
    if "unix_ms" in found:
        return datetime.fromtimestamp(int(found["unix_ms"]) / 1000, UTC)
    year = int(found.get("year", "0") or 0)
    if "year2" in found:
        short = int(found["year2"])
        year = short + (2000 if short < 69 else 1900)
    if "year" not in found and "year2" not in found:
        year = datetime.now(UTC).year
    month = int(found.get("month", "1"))
    if "month_name" in found:
        named = month_from_name(found["month_name"])
        if named is None:
            return None
        month = named
    hour = int(found.get("hour", "0"))
    meridiem = found.get("meridiem")
    if meridiem:
        hour = hour % 12 + (12 if meridiem.lower() == "pm" else 0)
    micro = int(found.get("fraction", "0").ljust(6, "0"))
    zone = found.get("zone")
    offset = timedelta(0)
    if zone and zone.upper() != "Z":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        offset = -offset if zone[0] == "-" else offset
    return build_datetime(
        (year, month, int(found.get("day", "1"))),
        (hour, int(found.get("minute", "0")), int(found.get("second", "0"))),
        micro,
        offset,
    )
