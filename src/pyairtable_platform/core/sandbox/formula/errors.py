"""Compile-time errors and the runtime error value of the formula engine."""

from __future__ import annotations

from typing import Final


class FormulaError(Exception):
    """A formula that Airtable would reject: syntax, unknown function/field, arity."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownFieldError(FormulaError):
    """A ``{Field}`` reference that names no field of the table."""

    def __init__(self, field_name: str, valid_names: list[str] | None = None) -> None:
        message = f"Unknown field names: {field_name}"
        if valid_names is not None:
            message += ". Valid field names: " + ", ".join(sorted(valid_names))
        super().__init__(message)
        self.field_name = field_name


class ErrorValue:
    """A runtime error result such as Airtable's ``#ERROR!``.

    It is a value, not an exception: it flows through operators and functions
    (which propagate it) until ``ISERROR`` inspects it or evaluation ends.
    """

    __slots__ = ("code", "reason")

    def __init__(self, reason: str = "", code: str = "#ERROR!") -> None:
        self.code: Final = code
        self.reason: Final = reason

    def __str__(self) -> str:
        return self.code

    def __repr__(self) -> str:
        return f"ErrorValue({self.code!r}, reason={self.reason!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ErrorValue) and other.code == self.code

    def __hash__(self) -> int:
        return hash(self.code)
