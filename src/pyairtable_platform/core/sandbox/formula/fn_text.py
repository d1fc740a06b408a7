"""Text and regular-expression functions."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from .args import int_arg
from .errors import ErrorValue
from .registry import Env, register
from .values import parse_number_text, to_str

# Airtable caps long text at 100,000 characters; refusing bigger results keeps a
# single formula from exhausting the server's memory.
MAX_TEXT = 100_000


def _too_long(size: int) -> ErrorValue | None:
    return ErrorValue("text result too long") if size > MAX_TEXT else None


def _find(args: list[Any]) -> int | ErrorValue:
    needle, haystack = to_str(args[0]), to_str(args[1])
    start = int_arg(args[2]) if len(args) == 3 else 0
    if isinstance(start, ErrorValue):
        return start
    if not needle:
        return 0
    # The start position is a 0-based offset ("startFromPosition is 0 by default").
    return haystack.find(needle, max(start, 0)) + 1


@register("FIND", 2, 3)
def _find_fn(args: list[Any], env: Env) -> int | ErrorValue:
    return _find(args)


@register("SEARCH", 2, 3)
def _search(args: list[Any], env: Env) -> int | ErrorValue | None:
    found = _find(args)
    return None if found == 0 else found


@register("LOWER", 1, 1)
def _lower(args: list[Any], env: Env) -> str:
    return to_str(args[0]).lower()


@register("UPPER", 1, 1)
def _upper(args: list[Any], env: Env) -> str:
    return to_str(args[0]).upper()


@register("LEN", 1, 1)
def _len(args: list[Any], env: Env) -> int:
    return len(to_str(args[0]))


@register("TRIM", 1, 1)
def _trim(args: list[Any], env: Env) -> str:
    return to_str(args[0]).strip()


@register("LEFT", 2, 2)
def _left(args: list[Any], env: Env) -> str | ErrorValue:
    count = int_arg(args[1])
    if isinstance(count, ErrorValue):
        return count
    return to_str(args[0])[: max(count, 0)]


@register("RIGHT", 2, 2)
def _right(args: list[Any], env: Env) -> str | ErrorValue:
    count = int_arg(args[1])
    if isinstance(count, ErrorValue):
        return count
    text = to_str(args[0])
    return text[len(text) - count :] if count > 0 else ""


@register("MID", 3, 3)
def _mid(args: list[Any], env: Env) -> str | ErrorValue:
    start, count = int_arg(args[1]), int_arg(args[2])
    if isinstance(start, ErrorValue):
        return start
    if isinstance(count, ErrorValue):
        return count
    begin = max(start - 1, 0)
    return to_str(args[0])[begin : begin + max(count, 0)]


@register("SUBSTITUTE", 3, 4)
def _substitute(args: list[Any], env: Env) -> str | ErrorValue:
    text, old, new = to_str(args[0]), to_str(args[1]), to_str(args[2])
    if not old:
        return text
    if len(args) < 4:
        too_long = _too_long(len(text) + text.count(old) * (len(new) - len(old)))
        return too_long or text.replace(old, new)
    index = int_arg(args[3])
    if isinstance(index, ErrorValue):
        return index
    position = -1
    for _ in range(max(index, 1)):
        position = text.find(old, position + 1)
        if position < 0:
            return text
    return text[:position] + new + text[position + len(old) :]


@register("REPLACE", 4, 4)
def _replace(args: list[Any], env: Env) -> str | ErrorValue:
    start, count = int_arg(args[1]), int_arg(args[2])
    if isinstance(start, ErrorValue):
        return start
    if isinstance(count, ErrorValue):
        return count
    text = to_str(args[0])
    begin = max(start - 1, 0)
    return text[:begin] + to_str(args[3]) + text[begin + max(count, 0) :]


@register("CONCATENATE", 1, None)
def _concatenate(args: list[Any], env: Env) -> str:
    return "".join(to_str(arg) for arg in args)


@register("REPT", 2, 2)
def _rept(args: list[Any], env: Env) -> str | ErrorValue:
    times = int_arg(args[1])
    if isinstance(times, ErrorValue):
        return times
    text = to_str(args[0])
    return _too_long(len(text) * times) or text * max(times, 0)


@register("ENCODE_URL_COMPONENT", 1, 1)
def _encode_url_component(args: list[Any], env: Env) -> str:
    # Same unreserved set as JavaScript's encodeURIComponent.
    return quote(to_str(args[0]), safe="!~*'()")


@register("VALUE", 1, 1)
def _value(args: list[Any], env: Env) -> Any:
    value = args[0]
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    text = to_str(value).strip()
    if not text:
        return None
    direct = parse_number_text(text)
    if direct is not None:
        return direct
    # Currency symbols, thousands separators and other decoration are dropped.
    negative = text.startswith("-") or (text.startswith("(") and text.endswith(")"))
    digits = re.sub(r"[^0-9.]", "", text)
    if not re.fullmatch(r"\d+\.?\d*|\.\d+", digits):
        return ErrorValue(f"cannot convert {text!r} to a number")
    number = float(digits)
    return -number if negative else number


MAX_PATTERN_LENGTH = 1000
# Airtable runs RE2, which has no backreferences or lookaround; Python's backtracking
# engine with those (or with nested quantifiers like "(a+)+") can take exponential time on
# a crafted input, so such patterns are refused instead of run on a shared server.
_UNSAFE_REGEX = re.compile(r"\\[1-9]|\(\?<?[=!]|\(\?P=|\([^()]*[+*}][^()]*\)(?:[+*]|\{\d*,)")


def _regex(pattern: Any) -> re.Pattern[str] | ErrorValue:
    text = to_str(pattern)
    if len(text) > MAX_PATTERN_LENGTH:
        return ErrorValue(f"regular expression longer than {MAX_PATTERN_LENGTH} characters")
    if _UNSAFE_REGEX.search(text):
        return ErrorValue(
            "regular expression uses backreferences, lookaround or nested quantifiers, "
            "which RE2 (Airtable's engine) does not run in linear time"
        )
    try:
        return re.compile(text)
    except re.error as exc:
        return ErrorValue(f"invalid regular expression: {exc}")


@register("REGEX_MATCH", 2, 2)
def _regex_match(args: list[Any], env: Env) -> bool | ErrorValue:
    pattern = _regex(args[1])
    if isinstance(pattern, ErrorValue):
        return pattern
    return pattern.search(to_str(args[0])) is not None


@register("REGEX_EXTRACT", 2, 2)
def _regex_extract(args: list[Any], env: Env) -> str | ErrorValue:
    pattern = _regex(args[1])
    if isinstance(pattern, ErrorValue):
        return pattern
    match = pattern.search(to_str(args[0]))
    if match is None:
        return ErrorValue("REGEX_EXTRACT found no match")
    return match.group(0)


_DOLLAR_GROUP = re.compile(r"\$(\$|&|\d{1,2})")


@register("REGEX_REPLACE", 3, 3)
def _regex_replace(args: list[Any], env: Env) -> str | ErrorValue:
    pattern = _regex(args[1])
    if isinstance(pattern, ErrorValue):
        return pattern
    template = to_str(args[2])

    def expand(match: re.Match[str]) -> str:
        def group(ref: re.Match[str]) -> str:
            name = ref.group(1)
            if name == "$":
                return "$"
            index = 0 if name == "&" else int(name)
            if index > match.re.groups:
                return ref.group(0)
            return match.group(index) or ""

        return _DOLLAR_GROUP.sub(group, template)

    return pattern.sub(expand, to_str(args[0]))
