"""User regexes run on Python's backtracking engine: patterns RE2 would not run in linear
time are refused with an error value instead of hanging a server thread."""

from __future__ import annotations

import pytest

from pyairtable_platform.core.sandbox.formula import ErrorValue, RecordContext, compile_formula


@pytest.mark.parametrize(
    "pattern",
    ["(a+)+$", "(a*)*b", "(\\\\w+\\\\s?)*$", "(x)\\\\1", "a(?=b)", "a(?!b)", "(?<=a)b"],
)
def test_catastrophic_or_non_re2_patterns_are_errors(pattern: str) -> None:
    formula = compile_formula(f'REGEX_MATCH("{"a" * 40}!", "{pattern}")')
    assert isinstance(formula.evaluate(RecordContext(fields={})), ErrorValue)


def test_ordinary_patterns_still_match() -> None:
    formula = compile_formula('REGEX_MATCH({Code}, "^[A-Z]{2}-\\\\d+(-[a-z]+)?$")')
    assert formula.evaluate(RecordContext(fields={"Code": "AB-12-x"})) is True
    assert formula.evaluate(RecordContext(fields={"Code": "ab-12"})) is False


def test_overlong_patterns_are_errors() -> None:
    formula = compile_formula(f'REGEX_MATCH("a", "{"a" * 1001}")')
    assert isinstance(formula.evaluate(RecordContext(fields={})), ErrorValue)
