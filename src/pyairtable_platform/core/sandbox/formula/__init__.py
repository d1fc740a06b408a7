r"""Airtable formula engine for ``filterByFormula`` and formula fields.

``compile_formula(source)`` tokenizes and parses a formula into an AST, checks function
names, argument counts and (optionally) field names, and returns a reusable
:class:`Formula`. ``Formula.evaluate(ctx)`` runs it against one record.

Documented Airtable behaviour followed here:

* blank (``None``, ``""``, ``[]``) equals ``""`` and ``BLANK()``, and ``BLANK() = 0`` is
  true; blank is 0 in arithmetic and ``""`` in ``&``; 0, ``""``, blank and empty arrays
  are falsy;
* TRUE/FALSE are "represented numerically" by 1/0 (so ``TRUE() & ""`` is ``"1"``);
* ROUND breaks ties toward positive infinity; ROUNDUP/ROUNDDOWN go away from/toward zero;
  INT is the floor;
* FIND returns 0 when nothing is found, SEARCH returns blank; both are case-sensitive;
* DATETIME_DIFF is ``date1 - date2`` in the unit (default: seconds, also for an unknown
  unit), truncated toward zero like Moment's ``diff``; DATETIME_FORMAT uses Moment
  tokens and formats in UTC (GMT);
* COUNT counts numbers, COUNTA non-empty values, COUNTALL everything.

Rules chosen where the docs are silent (Airtable runs on JavaScript, so JS semantics were
the tie-breaker):

* operator binding, loosest first: comparisons, ``&``, ``+ -``, ``* /``, unary minus;
* ``=`` between a number and text converts the text like ``Number(text)`` (``"5" = 5`` is
  true, ``"abc" = 0`` is false); text-to-text comparison is case-sensitive;
* arrays take part in comparisons and ``&`` as their items joined with ``", "``; in
  arithmetic a one-item array is that item, a longer one is not a number;
* attachments render as ``filename (url)``, collaborators as their name;
* a ``date``/``dateTime`` field (per ``RecordContext.field_types``) and the results of
  DATEADD/DATETIME_PARSE/NOW/TODAY are dates; comparing a date with text parses the text;
  a blank on one side of ``<``/``>`` against a date counts as the Unix epoch;
* in string context and in ``evaluate()`` results a date is ISO-8601 with milliseconds
  (``2026-01-31T00:00:00.000Z``); DATETIME_FORMAT without a format gives the same;
* arithmetic on non-numeric text or dates yields an error value (``NaN``/``#ERROR!``),
  and so does division or MOD by zero; date functions given a blank or unparseable date
  yield ``#ERROR!`` (Airtable shows ``#ERROR!`` for DATETIME_FORMAT of an empty date);
* FIND/SEARCH's optional start position is a 0-based offset ("0 by default"); an empty
  search string is never found; MID's start position is 1-based;
* SWITCH compares like ``=`` except that a blank pattern only matches a blank value;
* MIN/MAX/SUM/AVERAGE/COUNT use numeric items only (text, booleans, blanks are skipped);
  MIN/MAX/SUM of nothing is 0, AVERAGE of nothing is ``NaN``;
* VALUE drops currency symbols and thousands separators; VALUE of blank is blank;
* REGEX_* use Python ``re`` (close to Airtable's RE2); REGEX_EXTRACT without a match is
  ``#ERROR!``; REGEX_REPLACE expands ``$1``/``$&``; unknown backslash escapes in string
  literals keep the backslash so ``"\\d"`` and ``"\d"`` both reach the regex as ``\d``;
* dates without a zone are UTC; ``M/D/YYYY`` text is read US-style (en-US default);
* LAST_MODIFIED_TIME(fields...) returns the record's last-modified time (or created time);
* a field absent from ``RecordContext.fields`` is blank (the API omits empty fields);
* number literals are decimal only (no ``1e5``); trees deeper than 150 levels are
  rejected at compile time and text results over 100,000 characters are ``#ERROR!``,
  so one formula cannot exhaust the server.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .context import RecordContext
from .errors import ErrorValue, FormulaError, UnknownFieldError
from .evaluator import Evaluator, to_output, validate
from .parser import Node, field_names, parse
from .values import truthy

__all__ = [
    "ErrorValue",
    "Formula",
    "FormulaError",
    "RecordContext",
    "UnknownFieldError",
    "compile_formula",
]


@dataclass(frozen=True)
class Formula:
    """A compiled formula; immutable and safe to share between requests."""

    source: str
    referenced_fields: frozenset[str]
    _tree: Node

    def evaluate(self, ctx: RecordContext) -> Any:
        """The formula's value for one record, or an :class:`ErrorValue`."""
        return to_output(Evaluator(ctx).eval(self._tree))

    def matches(self, ctx: RecordContext) -> bool:
        """``filterByFormula`` semantics: a truthy result keeps the record; errors do not."""
        return truthy(Evaluator(ctx).eval(self._tree))


@lru_cache(maxsize=512)
def _compile_cached(source: str) -> Formula:
    tree = parse(source)
    validate(tree, None)
    return Formula(source, field_names(tree), tree)


def compile_formula(source: str, known_fields: Collection[str] | None = None) -> Formula:
    """Compile ``source``; raise :class:`FormulaError` for anything Airtable would reject.

    With ``known_fields`` every referenced field must be one of them, otherwise
    :class:`UnknownFieldError` names the culprit and lists the valid names.
    """
    formula = _compile_cached(source)
    if known_fields is not None:
        validate(formula._tree, known_fields)
    return formula
