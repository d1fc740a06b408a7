"""Computed fields: formula, lookup, rollup, count, createdTime, lastModifiedTime and
autoNumber, worked out from stored cells (and linked records) when a record is read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .formula import ErrorValue, FormulaError, RecordContext, compile_formula
from .formula.values import format_iso
from .repository import SandboxRepository
from .schema import BaseDef, FieldDef, RecordRow, TableDef

LINKED_TYPES = frozenset({"multipleLookupValues", "rollup", "count"})
MAX_DEPTH = 3


def _flatten_once(values: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, list):
            out.extend(value)
        elif value is not None and value != "":
            out.append(value)
    return out


class Computer:
    """Works out computed values for records of one base, loading linked records once."""

    def __init__(self, repo: SandboxRepository, base: BaseDef) -> None:
        self.repo = repo
        self.base = base
        self.now = datetime.now(UTC)
        self.rows: dict[str, RecordRow] = {}
        self._memo: dict[tuple[str, str], Any] = {}
        self._busy: set[tuple[str, str]] = set()

    def remember(self, rows: Iterable[RecordRow]) -> None:
        for row in rows:
            self.rows[row.id] = row

    async def prepare(self, table: TableDef, rows: list[RecordRow], depth: int = MAX_DEPTH) -> None:
        """Load the linked records the computed fields of ``rows`` will read."""
        self.remember(rows)
        if depth <= 0:
            return
        for item in table.fields:
            if item.type not in LINKED_TYPES:
                continue
            link = table.field_by_id(str(item.option("recordLinkFieldId")))
            if link is None or link.type != "multipleRecordLinks":
                continue
            linked = self.base.table_by_id(str(link.option("linkedTableId")))
            if linked is None:
                continue
            wanted = {rid for row in rows for rid in row.cells.get(link.id) or []}
            missing = [rid for rid in wanted if rid not in self.rows]
            if missing:
                self.remember((await self.repo.records_by_ids(missing)).values())
            target = linked.field_by_id(str(item.option("fieldIdInLinkedTable")))
            if target is not None and target.computed:
                linked_rows = [self.rows[rid] for rid in wanted if rid in self.rows]
                await self.prepare(linked, linked_rows, depth - 1)

    def value(self, table: TableDef, row: RecordRow, item: FieldDef) -> Any:
        if not item.computed:
            return row.cells.get(item.id)
        key = (row.id, item.id)
        if key in self._memo:
            return self._memo[key]
        if key in self._busy:
            return ErrorValue("circular reference", "#ERROR!")
        self._busy.add(key)
        try:
            result = self._compute(table, row, item)
        finally:
            self._busy.discard(key)
        self._memo[key] = result
        return result

    def _compute(self, table: TableDef, row: RecordRow, item: FieldDef) -> Any:
        kind = item.type
        if kind == "createdTime":
            return format_iso(row.created_at)
        if kind == "lastModifiedTime":
            return format_iso(row.last_modified_at)
        if kind == "autoNumber":
            return row.auto_number
        if kind == "formula":
            return self.evaluate(table, row, str(item.option("formula", "")))
        link = table.field_by_id(str(item.option("recordLinkFieldId")))
        if link is None:
            return None
        ids = [rid for rid in row.cells.get(link.id) or [] if isinstance(rid, str)]
        if kind == "count":
            return len(ids)
        linked = self.base.table_by_id(str(link.option("linkedTableId")))
        target = linked.field_by_id(str(item.option("fieldIdInLinkedTable"))) if linked else None
        if linked is None or target is None:
            return None
        values = _flatten_once(
            self.value(linked, self.rows[rid], target) for rid in ids if rid in self.rows
        )
        if kind == "multipleLookupValues":
            return values or None
        formula = str(item.option("formula") or "ARRAYJOIN(values)")
        try:
            compiled = compile_formula(formula)
        except FormulaError as exc:
            return ErrorValue(exc.message)
        return compiled.evaluate(
            RecordContext(fields={"values": values}, record_id=row.id, now=self.now)
        )

    def context(self, table: TableDef, row: RecordRow, names: Iterable[str]) -> RecordContext:
        """What a formula sees of ``row``: the referenced fields by name (or id)."""
        fields: dict[str, Any] = {}
        types: dict[str, str] = {}
        for name in names:
            item = table.find_field(name)
            if item is None:
                continue
            value = self.value(table, row, item)
            fields[name] = value
            types[name] = item.type
        return RecordContext(
            fields=fields,
            record_id=row.id,
            created_time=row.created_at,
            last_modified_time=row.last_modified_at,
            now=self.now,
            field_types=types,
        )

    def evaluate(self, table: TableDef, row: RecordRow, formula: str) -> Any:
        try:
            compiled = compile_formula(formula)
        except FormulaError as exc:
            return ErrorValue(exc.message)
        return compiled.evaluate(self.context(table, row, compiled.referenced_fields))
