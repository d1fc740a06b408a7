"""Property-based tests for the Airtable formula engine."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pyairtable_platform.core.sandbox.formula import (
    ErrorValue,
    Formula,
    FormulaError,
    RecordContext,
    compile_formula,
)

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
small_ints = st.integers(min_value=-10_000, max_value=10_000)
field_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=20)
    | st.sampled_from(["2026-01-31", "2026-01-31T10:00:00.000Z", "10/22/2003"]),
    lambda children: st.lists(children, max_size=4),
    max_leaves=8,
)


def run(expression: str, **fields: Any) -> Any:
    return compile_formula(expression).evaluate(RecordContext(fields=fields, now=NOW))


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(small_ints, small_ints, small_ints)
def test_integer_arithmetic_matches_standard_precedence(a: int, b: int, c: int) -> None:
    assert run(f"({a}) + ({b}) * ({c})") == a + b * c
    assert run(f"{a} - -{abs(b)}") == a + abs(b)
    assert run("{A} - {B} - {C}", A=a, B=b, C=c) == a - b - c
    assert run("({A} + {B}) * {C}", A=a, B=b, C=c) == (a + b) * c


@given(st.text(max_size=30), st.text(max_size=30))
def test_ampersand_concatenates_any_text(a: str, b: str) -> None:
    assert run("{A} & {B}", A=a, B=b) == a + b
    assert run("CONCATENATE({A}, {B})", A=a, B=b) == a + b


@given(st.text(max_size=30))
def test_escaped_string_literals_round_trip(text: str) -> None:
    assert run(quote(text)) == text
    assert run(f"LEN({quote(text)})") == len(text)


@given(st.text(max_size=30))
def test_upper_lower_and_len_agree_with_the_field_value(text: str) -> None:
    assert run("UPPER({T})", T=text) == text.upper()
    assert run("LOWER({T})", T=text) == text.lower()
    assert run("LEN({T})", T=text) == len(text)


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("{}()\"',&+-*/=<>!ab1 .IF")), max_size=25))
def test_compiling_arbitrary_text_either_succeeds_or_raises_formula_error(source: str) -> None:
    try:
        formula = compile_formula(source)
    except FormulaError:
        return
    assert isinstance(formula, Formula)


@given(
    st.dates(min_value=datetime(1970, 1, 1).date(), max_value=datetime(2100, 1, 1).date()),
    st.integers(min_value=-5000, max_value=5000),
)
def test_dateadd_days_then_datetime_diff_days_round_trips(day: Any, count: int) -> None:
    formula = "DATETIME_DIFF(DATEADD({D}, {N}, 'days'), {D}, 'days')"
    assert run(formula, D=day.isoformat(), N=count) == count


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), st.integers(0, 4))
def test_rounding_functions_bracket_the_value(value: float, places: int) -> None:
    down = run("ROUNDDOWN({V}, {P})", V=value, P=places)
    up = run("ROUNDUP({V}, {P})", V=value, P=places)
    nearest = run("ROUND({V}, {P})", V=value, P=places)
    assert min(down, up) <= value <= max(down, up)
    assert min(down, up) <= nearest <= max(down, up)
    assert run("ROUND({V}, {P})", V=nearest, P=places) == nearest


@settings(max_examples=200)
@given(field_values, field_values)
def test_evaluation_never_raises_for_any_field_values(a: Any, b: Any) -> None:
    formulas = [
        "{A} = {B}",
        "{A} < {B}",
        "{A} & {B}",
        "{A} + {B}",
        "{A} / {B}",
        "IF({A}, {B}, -{A})",
        "AND({A}, OR({B}, NOT({A})))",
        "ARRAYJOIN(ARRAYUNIQUE(ARRAYCOMPACT({A})))",
        "DATETIME_FORMAT({A}, 'YYYY-MM-DD')",
        "IS_BEFORE({A}, {B})",
        "SUM({A}, {B}) + COUNTA({A}, {B})",
        "FIND({A}, {B}) + LEN({A})",
        "VALUE({A})",
    ]
    ctx = RecordContext(fields={"A": a, "B": b}, now=NOW, field_types={"B": "date"})
    for source in formulas:
        formula = compile_formula(source)
        result = formula.evaluate(ctx)
        assert result is None or isinstance(result, bool | int | float | str | list | ErrorValue)
        assert isinstance(formula.matches(ctx), bool)
