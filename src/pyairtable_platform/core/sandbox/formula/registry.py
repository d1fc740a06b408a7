"""Function registry shared by the evaluator and the function modules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .context import RecordContext
from .parser import Node


class Env(Protocol):
    """The evaluator as seen by function implementations."""

    ctx: RecordContext
    now: datetime

    def eval(self, node: Node) -> Any: ...


EagerImpl = Callable[[list[Any], Env], Any]
LazyImpl = Callable[[tuple[Node, ...], Env], Any]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    min_args: int
    max_args: int | None  # None: variadic
    eager: EagerImpl | None = None
    lazy: LazyImpl | None = None
    propagate_errors: bool = True

    def arity_text(self) -> str:
        if self.max_args is None:
            return f"at least {self.min_args}"
        if self.max_args == self.min_args:
            return str(self.min_args)
        return f"{self.min_args} to {self.max_args}"


FUNCTIONS: dict[str, FunctionSpec] = {}


def register(
    name: str, min_args: int, max_args: int | None, *, propagate_errors: bool = True
) -> Callable[[EagerImpl], EagerImpl]:
    """Register an eager function: arguments are evaluated before the call."""

    def decorate(impl: EagerImpl) -> EagerImpl:
        FUNCTIONS[name] = FunctionSpec(
            name, min_args, max_args, eager=impl, propagate_errors=propagate_errors
        )
        return impl

    return decorate


def register_lazy(name: str, min_args: int, max_args: int | None) -> Callable[[LazyImpl], LazyImpl]:
    """Register a function that decides itself which argument nodes to evaluate."""

    def decorate(impl: LazyImpl) -> LazyImpl:
        FUNCTIONS[name] = FunctionSpec(name, min_args, max_args, lazy=impl)
        return impl

    return decorate
