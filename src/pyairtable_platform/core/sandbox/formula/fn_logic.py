"""Logical, error and array functions."""

from __future__ import annotations

from typing import Any

from .errors import ErrorValue
from .operators import equals
from .parser import Node
from .registry import Env, register, register_lazy
from .values import flatten, is_blank, to_str, truthy


@register("TRUE", 0, 0)
def _true(args: list[Any], env: Env) -> bool:
    return True


@register("FALSE", 0, 0)
def _false(args: list[Any], env: Env) -> bool:
    return False


@register("AND", 1, None)
def _and(args: list[Any], env: Env) -> bool:
    return all(truthy(arg) for arg in args)


@register("OR", 1, None)
def _or(args: list[Any], env: Env) -> bool:
    return any(truthy(arg) for arg in args)


@register("XOR", 1, None)
def _xor(args: list[Any], env: Env) -> bool:
    return sum(1 for arg in args if truthy(arg)) % 2 == 1


@register("NOT", 1, 1)
def _not(args: list[Any], env: Env) -> bool:
    return not truthy(args[0])


@register("BLANK", 0, 0)
def _blank(args: list[Any], env: Env) -> None:
    return None


@register("ERROR", 0, 1)
def _error(args: list[Any], env: Env) -> ErrorValue:
    return ErrorValue(to_str(args[0]) if args else "ERROR()")


@register("ISERROR", 1, 1, propagate_errors=False)
def _iserror(args: list[Any], env: Env) -> bool:
    return isinstance(args[0], ErrorValue)


@register_lazy("IF", 2, 3)
def _if(args: tuple[Node, ...], env: Env) -> Any:
    condition = env.eval(args[0])
    if isinstance(condition, ErrorValue):
        return condition
    if truthy(condition):
        return env.eval(args[1])
    return env.eval(args[2]) if len(args) == 3 else None


def _switch_matches(value: Any, pattern: Any) -> bool | ErrorValue:
    # Unlike "=", a blank pattern only matches a blank value (so 0 never hits BLANK()).
    if is_blank(value) or is_blank(pattern):
        return is_blank(value) and is_blank(pattern)
    return equals(value, pattern)


@register_lazy("SWITCH", 2, None)
def _switch(args: tuple[Node, ...], env: Env) -> Any:
    value = env.eval(args[0])
    if isinstance(value, ErrorValue):
        return value
    cases = args[1:]
    pairs = len(cases) // 2
    for index in range(pairs):
        matched = _switch_matches(value, env.eval(cases[2 * index]))
        if isinstance(matched, ErrorValue):
            return matched
        if matched:
            return env.eval(cases[2 * index + 1])
    return env.eval(cases[-1]) if len(cases) % 2 == 1 else None


@register("T", 1, 1)
def _t(args: list[Any], env: Env) -> str | None:
    return args[0] if isinstance(args[0], str) else None


def _as_list(value: Any) -> list[Any]:
    return list(flatten(value)) if isinstance(value, list | tuple) else [value]


@register("ARRAYJOIN", 1, 2)
def _arrayjoin(args: list[Any], env: Env) -> str:
    separator = to_str(args[1]) if len(args) == 2 else ", "
    return separator.join(to_str(item) for item in _as_list(args[0]) if item is not None)


@register("ARRAYUNIQUE", 1, 1)
def _arrayunique(args: list[Any], env: Env) -> list[Any]:
    unique: list[Any] = []
    for item in _as_list(args[0]):
        if not any(type(item) is type(seen) and item == seen for seen in unique):
            unique.append(item)
    return unique


@register("ARRAYCOMPACT", 1, 1)
def _arraycompact(args: list[Any], env: Env) -> list[Any]:
    return [item for item in _as_list(args[0]) if item is not None and item != ""]


@register("ARRAYFLATTEN", 1, 1)
def _arrayflatten(args: list[Any], env: Env) -> list[Any]:
    return _as_list(args[0])
