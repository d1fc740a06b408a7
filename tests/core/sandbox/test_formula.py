"""Table-driven tests for the Airtable formula engine.

Expected values come from Airtable's formula field reference (its worked examples where
it has them) and from the engine's documented rules where Airtable is silent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pyairtable_platform.core.sandbox.formula import (
    ErrorValue,
    Formula,
    FormulaError,
    RecordContext,
    UnknownFieldError,
    compile_formula,
)

NOW = datetime(2026, 2, 1, 12, 0, 0, tzinfo=UTC)  # a Sunday
CREATED = datetime(2026, 1, 15, 8, 30, 0, tzinfo=UTC)
MODIFIED = datetime(2026, 1, 20, 9, 0, 0, tzinfo=UTC)

RECORD: dict[str, Any] = {
    "Name": "Bob",
    "Full Name": "Bob Smith",
    "Num": 5,
    "Zero": 0,
    "Price": 12.5,
    "Qty": 4,
    "Text": "",
    "Empty": None,
    "Tags": ["red", "green"],
    "Links": ["Alpha", "Beta", "Alpha"],
    "One Link": ["Alpha"],
    "No Links": [],
    "Scores": [3, 1, 2],
    "Mixed": [1, "", None, "x"],
    "Checked": True,
    "Due": "2026-01-31",
    "Start": "2026-01-01",
    "Meeting": "2026-01-31T10:30:45.123Z",
    "Text Date": "2026-01-31",
    "Attachments": [{"id": "att1", "filename": "a.png", "url": "https://example.com/a.png"}],
    "Owner": {"id": "usr1", "email": "ann@example.com", "name": "Ann"},
    "Numeric Text": "42",
    "Owner's #1 (main) - %": "braced",
}
TYPES = {"Due": "date", "Start": "date", "Meeting": "dateTime", "Num": "number"}


def evaluate(expression: str, fields: dict[str, Any] | None = None) -> Any:
    ctx = RecordContext(
        fields=RECORD if fields is None else fields,
        record_id="recABC123",
        created_time=CREATED,
        last_modified_time=MODIFIED,
        now=NOW,
        field_types=TYPES,
    )
    return compile_formula(expression).evaluate(ctx)


def check(expression: str, fields: dict[str, Any] | None, expected: Any) -> None:
    result = evaluate(expression, fields)
    if isinstance(expected, float):
        assert result == pytest.approx(expected)
    else:
        assert result == expected
        assert type(result) is type(expected) or (
            isinstance(expected, int | float) and isinstance(result, int | float)
        )


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ("1 + 2 * 3", None, 7),
        ("(1 + 2) * 3", None, 9),
        ("10 - 4 - 3", None, 3),
        ("24 / 4 / 2", None, 3),
        ("-2 * 3", None, -6),
        ("-(2 + 3)", None, -5),
        ("2 - -3", None, 5),
        ("7 / 2", None, 3.5),
        ("1.5 + .5", None, 2),
        ('"Total: " & 1 + 2', None, "Total: 3"),
        ('1 + 1 = 2 & ""', None, True),
        ('1 & 2 = "12"', None, True),
        ("1 + 1 = 2", None, True),
        ("2 * 3 > 5", None, True),
        ('"a" & "b" = "ab"', None, True),
        ("{Price} * {Qty}", None, 50),
        ("Price * Qty", None, 50),
        ("{Num} != 5", None, False),
        ("{Num} >= 5", None, True),
        ("{Num} <= 4", None, False),
        ("{Num} < 10", None, True),
        ('"apple" < "banana"', None, True),
        ('"B" = "b"', None, False),
    ],
)
def test_operators_follow_airtable_precedence_and_semantics(
    expression: str, fields: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, fields, expected)


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ('"double"', None, "double"),
        ("'single'", None, "single"),
        ('"say \\"hi\\""', None, 'say "hi"'),
        ("'it\\'s'", None, "it's"),
        ('"back\\\\slash"', None, "back\\slash"),
        ('"line\\nbreak"', None, "line\nbreak"),
        ("TRUE", None, True),
        ("false", None, False),
        ("TRUE()", None, True),
        ("FALSE()", None, False),
        ("TRUE() = 1", None, True),
        ("{Full Name}", None, "Bob Smith"),
        ("{Name}", None, "Bob"),
        ("Name", None, "Bob"),
        ("if(1, 'lower-case call', 'no')", None, "lower-case call"),
        ("  Upper ( 'spaced' )  ", None, "SPACED"),
    ],
)
def test_literals_field_references_and_case_insensitive_function_names(
    expression: str, fields: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, fields, expected)


def test_braced_names_with_spaces_and_punctuation_are_looked_up_verbatim() -> None:
    assert evaluate("{Owner's #1 (main) - %}") == "braced"
    assert evaluate("{Owner's #1 (main) - %} & {Full Name}") == "bracedBob Smith"


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ("{Empty} = BLANK()", None, True),
        ("{Text} = BLANK()", None, True),
        ('{Empty} = ""', None, True),
        ('{Text} = ""', None, True),
        ("{Missing} = BLANK()", None, True),
        ("{No Links} = BLANK()", None, True),
        ('{No Links} = ""', None, True),
        ("BLANK() = 0", None, True),
        ("{Zero} = BLANK()", None, True),
        ('{Name} = ""', None, False),
        ("{Num} = BLANK()", None, False),
        ("{Empty} + 1", None, 1),
        ("{Empty} * 3", None, 0),
        ('{Empty} & "x"', None, "x"),
        ('"<" & BLANK() & ">"', None, "<>"),
        ("IF({Empty}, 'yes', 'no')", None, "no"),
        ("IF({Text}, 'yes', 'no')", None, "no"),
        ("IF({Zero}, 'yes', 'no')", None, "no"),
        ("IF({No Links}, 'yes', 'no')", None, "no"),
        ("IF({Tags}, 'yes', 'no')", None, "yes"),
        ("IF({Name}, 'yes', 'no')", None, "yes"),
        ("NOT({Empty})", None, True),
        ("LEN({Empty})", None, 0),
    ],
)
def test_blank_fields_compare_equal_to_empty_string_blank_and_zero(
    expression: str, fields: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, fields, expected)


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ('{Tags} & ""', None, "red, green"),
        ('{Tags} = "red, green"', None, True),
        ('{Tags} = "red"', None, False),
        ('{One Link} = "Alpha"', None, True),
        ('FIND("green", {Tags}) > 0', None, True),
        ('SEARCH("Beta", {Links})', None, 8),
        ("LEN({Links})", None, 18),
        ("{Scores} & ''", None, "3, 1, 2"),
        ("{Attachments} & ''", None, "a.png (https://example.com/a.png)"),
        ("{Owner} & ''", None, "Ann"),
        ('{Owner} = "Ann"', None, True),
        ("{Numbers} * 2", {"Numbers": [21]}, 42),
        ("{Numbers} + 0", {"Numbers": []}, 0),
        ("CONCATENATE({Tags})", None, "red, green"),
    ],
)
def test_arrays_from_lookups_and_linked_records_behave_as_joined_text(
    expression: str, fields: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, fields, expected)


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ('"5" = 5', None, True),
        ("{Numeric Text} = 42", None, True),
        ("{Numeric Text} > 41", None, True),
        ('"abc" = 0', None, False),
        ('"5" + 1', None, 6),
        ("{Checked} = 1", None, True),
        ("{Checked} & ''", None, "1"),
        ("FALSE() & ''", None, "0"),
        ("0.1 + 0.2", None, 0.30000000000000004),
        ("3 & ''", None, "3"),
        ("2.50 & ''", None, "2.5"),
        ("1 / 4 & ''", None, "0.25"),
    ],
)
def test_mixed_types_coerce_like_airtables_javascript_engine(
    expression: str, fields: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, fields, expected)


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ("AND(1, 'x', TRUE())", None, True),
        ("AND(1, 0)", None, False),
        ("AND({Name}, {Empty})", None, False),
        ("OR(0, '', BLANK())", None, False),
        ("OR(0, {Num})", None, True),
        ("XOR(TRUE(), FALSE())", None, True),
        ("XOR(TRUE(), FALSE(), TRUE())", None, False),
        ("NOT(0)", None, True),
        ("NOT({Tags})", None, False),
        ("IF({Num} > 3, 'big', 'small')", None, "big"),
        ("IF({Num} > 9, 'big')", None, None),
        ("IF({Price} * {Qty} > 100, 'over', 'under')", None, "under"),
        ("IF(1, 'ok', 1/0)", None, "ok"),
        ("SWITCH({Name}, 'Ann', 1, 'Bob', 2, 0)", None, 2),
        ("SWITCH({Name}, 'Ann', 1, 'Cat', 2, 0)", None, 0),
        ("SWITCH({Name}, 'Ann', 1)", None, None),
        ("SWITCH({Empty}, BLANK(), 'empty', 'other')", None, "empty"),
        ("SWITCH({Zero}, BLANK(), 'empty', 0, 'zero', 'other')", None, "zero"),
        ("SWITCH(2, 1, 'one', 2, 'two')", None, "two"),
        ("T({Name})", None, "Bob"),
        ("T({Num})", None, None),
        ("BLANK()", None, None),
        ("ISERROR(1/0)", None, True),
        ("ISERROR(ERROR())", None, True),
        ("ISERROR(1/1)", None, False),
    ],
)
def test_logical_functions(expression: str, fields: dict[str, Any] | None, expected: Any) -> None:
    check(expression, fields, expected)


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ('FIND("fox", "quick brown fox")', None, 13),
        ('FIND("cat", "quick brown fox")', None, 0),
        ('FIND("Fox", "quick brown fox")', None, 0),
        ('FIND("o", "foo boo", 3)', None, 6),
        ('SEARCH("World", "Hello World")', None, 7),
        ('SEARCH("cat", "Hello World")', None, None),
        ('SEARCH("o", "Hello World", 5)', None, 8),
        ('LOWER("Hello World")', None, "hello world"),
        ('UPPER("Hello World")', None, "HELLO WORLD"),
        ('LEN("quick brown fox")', None, 15),
        ("LEN(12345)", None, 5),
        ('TRIM("  Hello!  ")', None, "Hello!"),
        ('TRIM("a  b")', None, "a  b"),
        ('LEFT("quick brown fox", 5)', None, "quick"),
        ('RIGHT("quick brown fox", 5)', None, "n fox"),
        ('RIGHT("fox", 10)', None, "fox"),
        ('MID("quick brown fox", 7, 5)', None, "brown"),
        ('MID("quick brown fox", 1, 5)', None, "quick"),
        ('MID("abc", 2, 10)', None, "bc"),
        ('SUBSTITUTE("gold mold", "old", "et")', None, "get met"),
        ('SUBSTITUTE("gold mold", "old", "et", 1)', None, "get mold"),
        ('SUBSTITUTE("gold mold", "old", "et", 2)', None, "gold met"),
        ('SUBSTITUTE("gold", "x", "y")', None, "gold"),
        ('CONCATENATE("Bob", " - ", 43)', None, "Bob - 43"),
        ("CONCATENATE({Name}, ' ', {Empty}, '!')", None, "Bob !"),
        ('REPT("Hi! ", 3)', None, "Hi! Hi! Hi! "),
        ('REPT("x", 0)', None, ""),
        ('ENCODE_URL_COMPONENT("chicken & waffles")', None, "chicken%20%26%20waffles"),
        ('ENCODE_URL_COMPONENT("a/b?c=d!\'()*~")', None, "a%2Fb%3Fc%3Dd!'()*~"),
        ('VALUE("$10000")', None, 10000),
        ('VALUE("1,234.5")', None, 1234.5),
        ('VALUE("-12")', None, -12),
        ("VALUE({Numeric Text}) + 1", None, 43),
        ('{Name} & " " & {Empty} & "!"', None, "Bob !"),
    ],
)
def test_text_functions(expression: str, fields: dict[str, Any] | None, expected: Any) -> None:
    check(expression, fields, expected)


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ('REGEX_MATCH("Hello World", "Hello.World")', None, True),
        ('REGEX_MATCH("Hello World", "^World")', None, False),
        ('REGEX_MATCH("abc123", "\\\\d+")', None, True),
        ('REGEX_MATCH("abc123", "\\d{3}$")', None, True),
        ('REGEX_EXTRACT("Hello World", "W.*")', None, "World"),
        ('REGEX_EXTRACT("Order #4521 shipped", "[0-9]+")', None, "4521"),
        ('REGEX_REPLACE("Hello World", " W.*", "")', None, "Hello"),
        ('REGEX_REPLACE("a1b22c333", "[0-9]+", "#")', None, "a#b#c#"),
        ('REGEX_REPLACE("5551234567", "(\\d{3})(\\d{3})(\\d{4})", "($1) $2-$3")', None,
         "(555) 123-4567"),
    ],
)  # fmt: skip
def test_regex_functions(expression: str, fields: dict[str, Any] | None, expected: Any) -> None:
    check(expression, fields, expected)


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ("ROUND(1.99, 0)", None, 2),
        ("ROUND(2.5, 0)", None, 3),
        ("ROUND(-2.5, 0)", None, -2),
        ("ROUND(1.005, 2)", None, 1.01),
        ("ROUND(16.8, -1)", None, 20),
        ("ROUND(1234.5678, 2)", None, 1234.57),
        ("ROUNDUP(1.1, 0)", None, 2),
        ("ROUNDUP(-1.1, 0)", None, -2),
        ("ROUNDUP(1.111, 2)", None, 1.12),
        ("ROUNDDOWN(1.9, 0)", None, 1),
        ("ROUNDDOWN(-1.9, 0)", None, -1),
        ("ROUNDDOWN(1.999, 2)", None, 1.99),
        ("INT(1.99)", None, 1),
        ("INT(-1.99)", None, -2),
        ("ABS(-5.5)", None, 5.5),
        ("MOD(7, 5)", None, 2),
        ("MOD(-7, 5)", None, -2),
        ("MOD(7.5, 2)", None, 1.5),
        ("SUM(1, 2, 3)", None, 6),
        ("SUM({Scores})", None, 6),
        ("SUM({Scores}, 4)", None, 10),
        ("MIN(3, 1, 2)", None, 1),
        ("MAX({Scores})", None, 3),
        ("MIN({Empty}, 4)", None, 4),
        ("MAX({No Links})", None, 0),
        ("AVERAGE(1, 2, 3, 4)", None, 2.5),
        ("AVERAGE({Scores})", None, 2),
        ("COUNT(1, 2, 3, '', 'four')", None, 3),
        ("COUNTA(1, 2, 3, '', 'four')", None, 4),
        ("COUNTALL(1, 2, 3, '', 'four')", None, 5),
        ("COUNT({Mixed})", None, 1),
        ("COUNTA({Mixed})", None, 2),
        ("COUNTALL({Mixed})", None, 4),
        ("COUNTA({Links})", None, 3),
    ],
)
def test_numeric_and_aggregate_functions(
    expression: str, fields: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, fields, expected)


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ("ARRAYJOIN({Tags})", None, "red, green"),
        ('ARRAYJOIN({Tags}, "; ")', None, "red; green"),
        ('ARRAYJOIN({Scores}, "")', None, "312"),
        ("ARRAYJOIN({No Links}, '-')", None, ""),
        ("ARRAYUNIQUE({Links})", None, ["Alpha", "Beta"]),
        ("ARRAYUNIQUE({Values})", {"Values": [1, 2, 3, 3, 2, 1]}, [1, 2, 3]),
        ("ARRAYCOMPACT({Mixed})", None, [1, "x"]),
        ("ARRAYCOMPACT({Values})", {"Values": [False, " ", None]}, [False, " "]),
        ("ARRAYJOIN(ARRAYUNIQUE({Links}), ' & ')", None, "Alpha & Beta"),
        ("{Links}", None, ["Alpha", "Beta", "Alpha"]),
    ],
)
def test_array_functions(expression: str, fields: dict[str, Any] | None, expected: Any) -> None:
    check(expression, fields, expected)


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ("TODAY()", None, "2026-02-01T00:00:00.000Z"),
        ("NOW()", None, "2026-02-01T12:00:00.000Z"),
        ("{Due}", None, "2026-01-31T00:00:00.000Z"),
        ("{Text Date}", None, "2026-01-31"),
        ("YEAR({Due})", None, 2026),
        ("MONTH({Due})", None, 1),
        ("DAY({Due})", None, 31),
        ("HOUR({Meeting})", None, 10),
        ("MINUTE({Meeting})", None, 30),
        ("SECOND({Meeting})", None, 45),
        ("YEAR({Text Date})", None, 2026),
        ("WEEKDAY({Due})", None, 6),
        ("WEEKDAY({Due}, 'Monday')", None, 5),
        ("WEEKDAY(TODAY())", None, 0),
        ("DATESTR({Meeting})", None, "2026-01-31"),
        ("DATESTR('10/22/2003')", None, "2003-10-22"),
        ("DATEADD({Due}, 1, 'days')", None, "2026-02-01T00:00:00.000Z"),
        ("DATEADD({Due}, 1, 'month')", None, "2026-02-28T00:00:00.000Z"),
        ("DATEADD('2024-01-31', 1, 'M')", None, "2024-02-29T00:00:00.000Z"),
        ("DATEADD({Due}, -2, 'weeks')", None, "2026-01-17T00:00:00.000Z"),
        ("DATEADD({Due}, 1, 'quarters')", None, "2026-04-30T00:00:00.000Z"),
        ("DATEADD({Due}, 2, 'years')", None, "2028-01-31T00:00:00.000Z"),
        ("DATEADD({Meeting}, 90, 'minutes')", None, "2026-01-31T12:00:45.123Z"),
        ("DATEADD({Meeting}, 3, 'h')", None, "2026-01-31T13:30:45.123Z"),
        ("DATEADD({Meeting}, 15, 's')", None, "2026-01-31T10:31:00.123Z"),
        ("DATEADD({Meeting}, 877, 'ms')", None, "2026-01-31T10:30:46.000Z"),
        ("DATEADD('10/22/2003 8:00pm', 10, 'days')", None, "2003-11-01T20:00:00.000Z"),
        ("DATETIME_PARSE('4 Mar 2017 23:00', 'D MMM YYYY HH:mm')", None,
         "2017-03-04T23:00:00.000Z"),
        ("DATETIME_PARSE('22-10-2003', 'DD-MM-YYYY')", None, "2003-10-22T00:00:00.000Z"),
        ("DATETIME_PARSE('2003/10/22 8:05 PM', 'YYYY/MM/DD h:mm A')", None,
         "2003-10-22T20:05:00.000Z"),
        ("DATETIME_PARSE('2026-01-31T10:00:00+02:00')", None, "2026-01-31T08:00:00.000Z"),
        ("DATETIME_PARSE('January 5, 2026')", None, "2026-01-05T00:00:00.000Z"),
        ("DATETIME_PARSE('1700000000', 'X')", None, "2023-11-14T22:13:20.000Z"),
        ("CREATED_TIME()", None, "2026-01-15T08:30:00.000Z"),
        ("LAST_MODIFIED_TIME()", None, "2026-01-20T09:00:00.000Z"),
        ("LAST_MODIFIED_TIME({Name})", None, "2026-01-20T09:00:00.000Z"),
        ("RECORD_ID()", None, "recABC123"),
        ("'https://x/' & RECORD_ID()", None, "https://x/recABC123"),
    ],
)  # fmt: skip
def test_date_functions(expression: str, fields: dict[str, Any] | None, expected: Any) -> None:
    check(expression, fields, expected)


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ("DATETIME_FORMAT('10/22/2003', 'M')", None, "10"),
        ("DATETIME_FORMAT({Due}, 'YYYY-MM-DD')", None, "2026-01-31"),
        ("DATETIME_FORMAT({Due}, 'YY')", None, "26"),
        ("DATETIME_FORMAT('2026-03-05', 'M/D/YYYY')", None, "3/5/2026"),
        ("DATETIME_FORMAT('2026-03-05', 'MM/DD')", None, "03/05"),
        ("DATETIME_FORMAT({Due}, 'MMM')", None, "Jan"),
        ("DATETIME_FORMAT({Due}, 'MMMM')", None, "January"),
        ("DATETIME_FORMAT({Due}, 'ddd')", None, "Sat"),
        ("DATETIME_FORMAT({Due}, 'dddd')", None, "Saturday"),
        ("DATETIME_FORMAT({Due}, 'Do')", None, "31st"),
        ("DATETIME_FORMAT('2026-03-02', 'Do')", None, "2nd"),
        ("DATETIME_FORMAT('2026-03-13', 'Do')", None, "13th"),
        ("DATETIME_FORMAT('2026-03-23', 'Do')", None, "23rd"),
        ("DATETIME_FORMAT({Meeting}, 'HH:mm:ss')", None, "10:30:45"),
        ("DATETIME_FORMAT('2026-01-31T15:04:05Z', 'H h hh A a')", None, "15 3 03 PM pm"),
        ("DATETIME_FORMAT('2026-01-31T00:05:00Z', 'h:mm a')", None, "12:05 am"),
        ("DATETIME_FORMAT('2026-01-31T08:00:00Z', 'HH')", None, "08"),
        ("DATETIME_FORMAT({Meeting}, 'SSS')", None, "123"),
        ("DATETIME_FORMAT('1970-01-02', 'X')", None, "86400"),
        ("DATETIME_FORMAT('1970-01-02', 'x')", None, "86400000"),
        ("DATETIME_FORMAT({Due}, '[Week] W, [Q]Q')", None, "Week 5, Q1"),
        ("DATETIME_FORMAT('2021-02-11', 'W w')", None, "6 7"),
        ("DATETIME_FORMAT({Due}, 'LL')", None, "January 31, 2026"),
        ("DATETIME_FORMAT({Meeting}, 'L LT')", None, "01/31/2026 10:30 AM"),
        ("DATETIME_FORMAT({Due}, 'dddd, MMMM Do YYYY [at] h:mm a')", None,
         "Saturday, January 31st 2026 at 12:00 am"),
        ("DATETIME_FORMAT({Meeting})", None, "2026-01-31T10:30:45.123Z"),
    ],
)  # fmt: skip
def test_datetime_format_uses_moment_tokens_in_utc(
    expression: str, fields: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, fields, expected)


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ("DATETIME_DIFF('04/06/2019 12:00', '04/05/2019 11:00', 'hours')", None, 25),
        ("DATETIME_DIFF('2026-01-31', '2026-01-01', 'days')", None, 30),
        ("DATETIME_DIFF('2026-01-01', '2026-01-31', 'days')", None, -30),
        ("DATETIME_DIFF({Due}, {Start}, 'd')", None, 30),
        ("DATETIME_DIFF({Due}, {Start}, 'weeks')", None, 4),
        ("DATETIME_DIFF({Due}, {Start}, 'w')", None, 4),
        ("DATETIME_DIFF({Due}, {Start}, 'months')", None, 0),
        ("DATETIME_DIFF('2026-03-01', '2026-01-01', 'M')", None, 2),
        ("DATETIME_DIFF('2026-03-15', '2026-01-20', 'months')", None, 1),
        ("DATETIME_DIFF('2027-01-01', '2026-01-01', 'quarters')", None, 4),
        ("DATETIME_DIFF('2027-01-01', '2026-01-01', 'Q')", None, 4),
        ("DATETIME_DIFF('2030-06-30', '2026-07-01', 'years')", None, 3),
        ("DATETIME_DIFF('2030-07-01', '2026-07-01', 'y')", None, 4),
        ("DATETIME_DIFF('2026-01-01T01:00:00Z', '2026-01-01', 'minutes')", None, 60),
        ("DATETIME_DIFF('2026-01-01T01:00:00Z', '2026-01-01', 'm')", None, 60),
        ("DATETIME_DIFF('2026-01-01T01:00:00Z', '2026-01-01', 'h')", None, 1),
        ("DATETIME_DIFF('2026-01-01T00:01:00Z', '2026-01-01', 'seconds')", None, 60),
        ("DATETIME_DIFF('2026-01-01T00:01:00Z', '2026-01-01', 's')", None, 60),
        ("DATETIME_DIFF('2026-01-01T00:00:01Z', '2026-01-01', 'milliseconds')", None, 1000),
        ("DATETIME_DIFF('2026-01-01T00:00:01Z', '2026-01-01', 'ms')", None, 1000),
        ("DATETIME_DIFF('2026-01-01T00:01:00Z', '2026-01-01')", None, 60),
        ("DATETIME_DIFF('2026-01-01T00:01:00Z', '2026-01-01', 'fortnights')", None, 60),
        ("DATETIME_DIFF('2026-01-02T23:59:00Z', '2026-01-01', 'days')", None, 1),
        ("DATETIME_DIFF(TODAY(), CREATED_TIME(), 'days')", None, 16),
    ],
)
def test_datetime_diff_subtracts_second_date_from_first_in_the_given_unit(
    expression: str, fields: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, fields, expected)


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ("IS_BEFORE({Start}, {Due})", None, True),
        ("IS_BEFORE({Due}, {Start})", None, False),
        ("IS_AFTER({Due}, '2026-01-30')", None, True),
        ("IS_AFTER({Due}, {Due})", None, False),
        ("IS_BEFORE({Meeting}, TODAY())", None, True),
        ("IS_SAME({Due}, '2026-01-31')", None, True),
        ("IS_SAME({Meeting}, {Due})", None, False),
        ("IS_SAME({Meeting}, {Due}, 'day')", None, True),
        ("IS_SAME('2019-01-01', '2019-01-31', 'month')", None, True),
        ("IS_SAME('2019-01-01', '2019-02-01', 'month')", None, False),
        ("IS_SAME('2019-01-01', '2019-12-31', 'year')", None, True),
        ("IS_SAME('2026-01-29', '2026-01-31', 'week')", None, True),
        ("IS_SAME('2026-01-31', '2026-02-01', 'week')", None, False),
        ("IS_SAME('2026-01-31T10:15:00Z', '2026-01-31T10:45:00Z', 'hour')", None, True),
        ("{Due} < TODAY()", None, True),
        ("{Due} > DATEADD(TODAY(), -7, 'days')", None, True),
        ("{Due} = '2026-01-31'", None, True),
        ("{Due} = DATETIME_PARSE('31/01/2026', 'DD/MM/YYYY')", None, True),
        ("{Meeting} > {Due}", None, True),
        ("{Due} <= '2026-01-31'", None, True),
        ("{Due} < '2026-01-31'", None, False),
        ("{Text Date} < '2026-02-01'", None, True),
        ("{Due} != {Start}", None, True),
    ],
)
def test_dates_compare_as_points_in_time(
    expression: str, fields: dict[str, Any] | None, expected: Any
) -> None:
    check(expression, fields, expected)


@pytest.mark.parametrize(
    ("expression", "fields"),
    [
        ("1 / 0", None),
        ("{Num} / {Zero}", None),
        ("{Num} / {Empty}", None),
        ("MOD(5, 0)", None),
        ("ERROR()", None),
        ('REGEX_EXTRACT("abc", "[0-9]+")', None),
        ('REGEX_MATCH("abc", "(")', None),
        ("DATETIME_FORMAT({Empty}, 'YYYY')", None),
        ("DATETIME_DIFF({Due}, 'not a date', 'days')", None),
        ("YEAR('banana')", None),
        ("IS_BEFORE(BLANK(), {Due})", None),
        ("DATEADD({Due}, 1, 'fortnights')", None),
        ("DATETIME_PARSE('garbage', 'YYYY-MM-DD')", None),
        ("(1 / 0) + 1", None),
        ("(1 / 0) & 'x'", None),
        ("1 / 0 = 1", None),
        ("IF(1 / 0, 'a', 'b')", None),
        ("LEN(1 / 0)", None),
        ("UPPER(ERROR())", None),
    ],
)
def test_errors_evaluate_to_error_value_and_propagate(
    expression: str, fields: dict[str, Any] | None
) -> None:
    result = evaluate(expression, fields)
    assert isinstance(result, ErrorValue)
    assert str(ErrorValue()) == "#ERROR!"


@pytest.mark.parametrize(
    ("expression", "fields"),
    [
        ('"abc" * 2', None),
        ("{Name} - 1", None),
        ("AVERAGE({No Links})", None),
        ("-{Name}", None),
    ],
)
def test_arithmetic_on_non_numbers_is_nan_error(
    expression: str, fields: dict[str, Any] | None
) -> None:
    result = evaluate(expression, fields)
    assert isinstance(result, ErrorValue)
    assert str(result) == "NaN"


def test_division_by_zero_renders_as_airtable_error_text() -> None:
    assert str(evaluate("1/0")) == "#ERROR!"


@pytest.mark.parametrize(
    ("formula", "fields", "expected"),
    [
        ("{Name} = 'Bob'", None, True),
        ("{Name} = 'bob'", None, False),
        ("AND({Num} > 1, {Tags} != '')", None, True),
        ("{Num} / 0 > 1", None, False),
        ("NOT({Num} / 0 > 1)", None, False),
        ("{Empty}", None, False),
        ("{Num}", None, True),
        ("{Zero}", None, False),
        ("'0'", None, True),
        ("FIND('x', {Name})", None, False),
        ("SEARCH('o', {Name})", None, True),
        ("IS_AFTER({Due}, '2026-01-01')", None, True),
        ("{Checked}", None, True),
        ("{Checked}", {"Checked": None}, False),
        ("{Missing}", None, False),
        ("ARRAYCOMPACT({No Links})", None, False),
    ],
)
def test_matches_keeps_records_whose_formula_is_truthy_and_never_errors(
    formula: str, fields: dict[str, Any] | None, expected: bool
) -> None:
    ctx = RecordContext(fields=RECORD if fields is None else fields, now=NOW, field_types=TYPES)
    assert compile_formula(formula).matches(ctx) is expected


@pytest.mark.parametrize(
    "source",
    [
        "",
        "   ",
        "1 +",
        "(1 + 2",
        "1 + 2)",
        "IF(1, 2",
        "IF(1,, 2)",
        "{Name",
        "'unterminated",
        '"unterminated',
        "1 2",
        "{}",
        "1 ? 2",
        "#REF!",
        "{Name} == 'Bob'",
        "AND(1, 2,)",
        "12abc",
        "* 3",
    ],
)
def test_syntax_errors_raise_formula_error(source: str) -> None:
    with pytest.raises(FormulaError):
        compile_formula(source)


@pytest.mark.parametrize("source", ["FOO(1)", "ISBLANK({Name})", "sum2(1)", "IF(1, BAR(), 2)"])
def test_unknown_functions_raise_formula_error_naming_the_function(source: str) -> None:
    with pytest.raises(FormulaError, match="Unknown function"):
        compile_formula(source)


def test_unknown_function_message_matches_airtable_wording() -> None:
    with pytest.raises(FormulaError) as info:
        compile_formula("frobnicate(1)")
    assert info.value.message == "Unknown function FROBNICATE"


@pytest.mark.parametrize(
    "source",
    [
        "IF(1)",
        "IF(1, 2, 3, 4)",
        "NOT()",
        "NOT(1, 2)",
        "LEFT('abc')",
        "MID('abc', 1)",
        "ROUND(1.5)",
        "TODAY(1)",
        "BLANK(1)",
        "AND()",
        "SUM()",
        "DATEADD({Due}, 1)",
        "DATETIME_DIFF({Due})",
        "RECORD_ID('x')",
        "SUBSTITUTE('a', 'b')",
        "REGEX_REPLACE('a', 'b')",
    ],
)
def test_wrong_argument_counts_raise_formula_error(source: str) -> None:
    with pytest.raises(FormulaError):
        compile_formula(source)


def test_unknown_field_with_known_fields_raises_unknown_field_error_listing_valid_names() -> None:
    with pytest.raises(UnknownFieldError) as info:
        compile_formula("AND({Name} = 'x', {Nmae} = 'y')", known_fields=["Name", "Status"])
    assert info.value.field_name == "Nmae"
    assert "Nmae" in info.value.message
    assert "Name" in info.value.message
    assert "Status" in info.value.message
    assert isinstance(info.value, FormulaError)


def test_bare_field_names_are_checked_against_known_fields_too() -> None:
    with pytest.raises(UnknownFieldError) as info:
        compile_formula("Price * Qty", known_fields=["Price"])
    assert info.value.field_name == "Qty"


def test_field_names_are_case_sensitive() -> None:
    with pytest.raises(UnknownFieldError):
        compile_formula("{name} = 'Bob'", known_fields=["Name"])
    assert evaluate("{name}") is None


def test_known_fields_that_match_compile_and_evaluate() -> None:
    formula = compile_formula("{Full Name} & '!'", known_fields=["Full Name"])
    assert formula.evaluate(RecordContext(fields={"Full Name": "Ann Lee"})) == "Ann Lee!"


def test_referenced_fields_lists_braced_and_bare_names() -> None:
    formula = compile_formula("IF({Full Name}, Price * {Qty}, LAST_MODIFIED_TIME({Due}))")
    assert formula.referenced_fields == frozenset({"Full Name", "Price", "Qty", "Due"})
    assert formula.source == "IF({Full Name}, Price * {Qty}, LAST_MODIFIED_TIME({Due}))"


def test_compiled_formulas_are_cached_and_reusable_across_records() -> None:
    first = compile_formula("{Num} * 2")
    assert compile_formula("{Num} * 2") is first
    assert isinstance(first, Formula)
    assert first.evaluate(RecordContext(fields={"Num": 2})) == 4
    assert first.evaluate(RecordContext(fields={"Num": 10})) == 20


def test_today_defaults_to_the_real_clock_when_no_now_is_injected() -> None:
    before = datetime.now(UTC).strftime("%Y-%m-%d")
    result = compile_formula("DATESTR(TODAY())").evaluate(RecordContext(fields={}))
    after = datetime.now(UTC).strftime("%Y-%m-%d")
    assert result in {before, after}


def test_created_time_is_blank_when_the_context_has_none() -> None:
    assert compile_formula("CREATED_TIME()").evaluate(RecordContext(fields={})) is None
