"""Records: list (with filter, sort, views, paging), get, create, update, upsert, delete.
Linked records are kept symmetric: writing one side rewrites the inverse field."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from .compute import Computer
from .exceptions import AirtableError, invalid_formula, invalid_records, invalid_request, not_found
from .exceptions import unknown_field as unknown_field_error
from .fieldtypes import WriteEffects, normalise_options, render_json, render_string, to_cell
from .formula import ErrorValue, FormulaError, compile_formula
from .formula.values import format_iso, is_blank, to_str
from .ids import decode_index, encode_index, looks_like, new_id
from .listing import ListQuery
from .repository import SandboxRepository
from .schema import BaseDef, FieldDef, RecordRow, TableDef

MAX_RECORDS_PER_REQUEST = 10
MERGEABLE_TYPES = frozenset(
    {
        "singleLineText",
        "multilineText",
        "email",
        "url",
        "phoneNumber",
        "number",
        "currency",
        "percent",
        "rating",
        "duration",
        "singleSelect",
        "multipleSelects",
        "date",
        "dateTime",
    }
)


def _records_list(body: dict[str, Any]) -> list[dict[str, Any]]:
    items = body.get("records")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise invalid_request("records must be a list of objects")
    if not items:
        raise invalid_records("Request must include at least one record")
    if len(items) > MAX_RECORDS_PER_REQUEST:
        raise invalid_records(
            f"You can create, update or delete at most {MAX_RECORDS_PER_REQUEST} records "
            f"per request; got {len(items)}"
        )
    return items


def _sort_key(item: FieldDef, value: Any) -> tuple[int, Any]:
    if is_blank(value) or isinstance(value, ErrorValue):
        return (0, "")
    if item.type == "singleSelect":
        names = [c.get("name") for c in item.option("choices") or []]
        return (1, names.index(value) if value in names else len(names))
    if isinstance(value, bool | int | float):
        return (1, float(value))
    return (2, to_str(value).lower())


def _decode_offset(offset: str) -> tuple[int, str]:
    head, _, record_id = offset.partition("/")
    index = decode_index(head[3:]) if head.startswith("itr") else None
    if index is None or not looks_like(record_id, "rec"):
        raise AirtableError(422, "INVALID_OFFSET_VALUE", f"The value of offset {offset} is invalid")
    return index, record_id


class RecordsService:
    def __init__(self, repo: SandboxRepository, base: BaseDef, table: TableDef) -> None:
        self.repo = repo
        self.base = base
        self.table = table

    # reading ------------------------------------------------------------------------------

    def _field(self, name_or_id: str) -> FieldDef:
        item = self.table.find_field(name_or_id)
        if item is None:
            raise unknown_field_error(name_or_id)
        return item

    def _compile(self, formula: str) -> Any:
        known = [f.name for f in self.table.fields] + [f.id for f in self.table.fields]
        try:
            return compile_formula(formula, known)
        except FormulaError as exc:
            raise invalid_formula(exc.message) from None

    def _render(
        self,
        computer: Computer,
        row: RecordRow,
        *,
        by_id: bool = False,
        only: set[str] | None = None,
        cell_format: str = "json",
        comments: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for item in self.table.fields:
            if only is not None and item.id not in only:
                continue
            value = computer.value(self.table, row, item)
            rendered: Any
            if isinstance(value, ErrorValue):
                rendered = {"specialValue": "NaN"} if value.code == "NaN" else {"error": value.code}
            elif cell_format == "string":
                rendered = render_string(value)
            else:
                rendered = render_json(item, value)
            if rendered is not None:
                fields[item.id if by_id else item.name] = rendered
        record: dict[str, Any] = {
            "id": row.id,
            "createdTime": format_iso(row.created_at),
            "fields": fields,
        }
        if comments is not None:
            record["commentCount"] = comments.get(row.id, 0)
        return record

    async def _render_many(self, rows: Sequence[RecordRow], by_id: bool) -> list[dict[str, Any]]:
        computer = Computer(self.repo, self.base)
        await computer.prepare(self.table, list(rows))
        return [self._render(computer, row, by_id=by_id) for row in rows]

    async def list_page(self, query: ListQuery) -> dict[str, Any]:
        """One page of records, as ``GET /v0/{base}/{table}`` returns it."""
        only = {self._field(name).id for name in query.fields} if query.fields is not None else None
        view = None
        if query.view is not None:
            view = self.table.find_view(query.view)
            if view is None:
                raise AirtableError(
                    422, "VIEW_NAME_NOT_FOUND", f'Could not find view "{query.view}" in table'
                )
        sources = [f for f in ((view.filter_formula if view else None), query.formula) if f]
        filters = [self._compile(f) for f in sources]
        sort_spec = query.sort or [
            (s["field"], s.get("direction", "asc")) for s in (view.sort if view else None) or []
        ]
        sorts = [(self._field(name), direction) for name, direction in sort_spec]
        index, after_id = _decode_offset(query.offset) if query.offset else (0, "")
        computer = Computer(self.repo, self.base)
        cap = query.max_records
        next_id: str | None = None
        if not filters and not sorts:
            limit = query.page_size if cap is None else min(query.page_size, cap - index)
            from_seq = None
            if after_id:
                anchor = (await self.repo.records_by_ids([after_id])).get(after_id)
                if anchor is not None and anchor.table_id == self.table.id:
                    from_seq = anchor.seq
            rows = (
                await self.repo.record_page(
                    self.table.id, from_seq=from_seq, skip=index, limit=limit + 1
                )
                if limit > 0
                else []
            )
            page = rows[:limit]
            if len(rows) > limit:
                next_id = rows[limit].id
        else:
            rows = await self.repo.all_records(self.table.id)
            await computer.prepare(self.table, rows)
            for compiled in filters:
                rows = [
                    r
                    for r in rows
                    if compiled.matches(computer.context(self.table, r, compiled.referenced_fields))
                ]
            for item, direction in reversed(sorts):
                rows.sort(
                    key=lambda r, f=item: _sort_key(f, computer.value(self.table, r, f)),  # type: ignore[misc]
                    reverse=direction == "desc",
                )
            if cap is not None:
                rows = rows[:cap]
            start = index
            if after_id and not (index < len(rows) and rows[index].id == after_id):
                start = next((i for i, r in enumerate(rows) if r.id == after_id), index)
            page = rows[start : start + query.page_size]
            index = start
            if start + query.page_size < len(rows):
                next_id = rows[start + query.page_size].id
        await computer.prepare(self.table, page)
        comments = (
            await self.repo.comment_counts([r.id for r in page]) if query.comment_count else None
        )
        body: dict[str, Any] = {
            "records": [
                self._render(
                    computer,
                    row,
                    by_id=query.by_field_id,
                    only=only,
                    cell_format=query.cell_format,
                    comments=comments,
                )
                for row in page
            ]
        }
        if next_id is not None:
            body["offset"] = f"itr{encode_index(index + len(page))}/{next_id}"
        return body

    async def _existing(self, ids: Iterable[str]) -> dict[str, RecordRow]:
        wanted = list(dict.fromkeys(ids))
        found = await self.repo.records_by_ids(wanted)
        for record_id in wanted:
            row = found.get(record_id)
            if row is None or row.table_id != self.table.id:
                raise not_found()
        return found

    async def get(self, record_id: str, *, by_id: bool, cell_format: str) -> dict[str, Any]:
        """One record, as ``GET /v0/{base}/{table}/{record}`` returns it."""
        row = (await self._existing([record_id]))[record_id]
        computer = Computer(self.repo, self.base)
        await computer.prepare(self.table, [row])
        return self._render(computer, row, by_id=by_id, cell_format=cell_format)

    # writing ------------------------------------------------------------------------------

    def _cells(self, fields: Any, typecast: bool, effects: WriteEffects) -> dict[str, Any]:
        if fields is None:
            fields = {}
        if not isinstance(fields, dict):
            raise invalid_request("fields must be an object")
        cells: dict[str, Any] = {}
        for key, value in fields.items():
            item = self.table.find_field(str(key))
            if item is None:
                raise unknown_field_error(str(key))
            cells[item.id] = to_cell(item, value, typecast, effects)
        return cells

    async def _apply_effects(self, effects: WriteEffects, all_cells: list[dict[str, Any]]) -> None:
        for field_id, names in effects.new_choices.items():
            item = self.table.field_by_id(field_id)
            assert item is not None
            options = normalise_options(item) or {}
            options["choices"] = [*options.get("choices", []), *({"name": n} for n in names)]
            item.options = options
            item.options = normalise_options(item)
            await self.repo.update_field(field_id, {"options": item.options})
        resolved: dict[str, str] = {}
        for table_id, wanted_names in effects.link_names.items():
            linked = self.base.table_by_id(table_id)
            if linked is None:
                continue
            primary = linked.primary_field
            found = await self.repo.find_by_primary(linked.id, primary.id, sorted(wanted_names))
            missing = [n for n in sorted(wanted_names) if n not in found]
            if missing:
                first = await self.repo.reserve_auto_numbers(linked.id, len(missing))
                rows = await self.repo.insert_records(
                    [
                        {
                            "id": new_id("rec"),
                            "table_id": linked.id,
                            "cells": {primary.id: name},
                            "auto_number": first + i,
                        }
                        for i, name in enumerate(missing)
                    ]
                )
                found.update({name: row.id for name, row in zip(missing, rows, strict=True)})
            resolved.update({f"name:{name}": rid for name, rid in found.items()})
        if resolved:
            for cells in all_cells:
                for field_id, value in cells.items():
                    item = self.table.field_by_id(field_id)
                    if item is not None and item.type == "multipleRecordLinks" and value:
                        cells[field_id] = list(dict.fromkeys(resolved.get(v, v) for v in value))

    async def _check_links(self, all_cells: list[dict[str, Any]]) -> None:
        wanted: dict[str, FieldDef] = {}
        for cells in all_cells:
            for field_id, value in cells.items():
                item = self.table.field_by_id(field_id)
                if item is not None and item.type == "multipleRecordLinks" and value:
                    for rid in value:
                        wanted[rid] = item
        found = await self.repo.records_by_ids(wanted)
        for rid, item in wanted.items():
            row = found.get(rid)
            if row is None or row.table_id != item.option("linkedTableId"):
                raise AirtableError(
                    422,
                    "ROW_DOES_NOT_EXIST",
                    f'Record ID {rid} does not exist in the table linked from "{item.name}"',
                )

    async def _sync_inverse(
        self, changes: dict[str, tuple[dict[str, Any], dict[str, Any]]]
    ) -> None:
        """Rewrite the inverse side of every link that ``changes`` added or removed."""
        for item in self.table.fields:
            inverse = item.option("inverseLinkFieldId")
            if item.type != "multipleRecordLinks" or not inverse:
                continue
            adds: dict[str, list[str]] = {}
            removes: dict[str, set[str]] = {}
            for rid, (old, new) in changes.items():
                before = set(old.get(item.id) or [])
                after = list(new.get(item.id) or [])
                for target in after:
                    if target not in before:
                        adds.setdefault(target, []).append(rid)
                for target in before - set(after):
                    removes.setdefault(target, set()).add(rid)
            targets = await self.repo.records_by_ids({*adds, *removes})
            updates: dict[str, dict[str, Any]] = {}
            for target_id, target in targets.items():
                links = [
                    r
                    for r in target.cells.get(inverse) or []
                    if r not in removes.get(target_id, ())
                ]
                links += [r for r in adds.get(target_id, []) if r not in links]
                cells = dict(target.cells)
                if links:
                    cells[inverse] = links
                else:
                    cells.pop(inverse, None)
                if cells != target.cells:
                    updates[target_id] = cells
            await self.repo.update_cells(updates)

    async def _prepare_cells(
        self, items: list[dict[str, Any]], typecast: bool
    ) -> list[dict[str, Any]]:
        effects = WriteEffects()
        all_cells = [self._cells(item.get("fields"), typecast, effects) for item in items]
        await self._apply_effects(effects, all_cells)
        await self._check_links(all_cells)
        return all_cells

    async def _insert(self, all_cells: list[dict[str, Any]]) -> list[RecordRow]:
        first = await self.repo.reserve_auto_numbers(self.table.id, len(all_cells))
        rows = await self.repo.insert_records(
            [
                {
                    "id": new_id("rec"),
                    "table_id": self.table.id,
                    "cells": {k: v for k, v in cells.items() if v is not None},
                    "auto_number": first + i,
                }
                for i, cells in enumerate(all_cells)
            ]
        )
        await self._sync_inverse({row.id: ({}, row.cells) for row in rows})
        return rows

    async def _fresh(self, ids: list[str]) -> list[RecordRow]:
        rows = await self.repo.records_by_ids(ids)
        return [rows[i] for i in ids]

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create one record (``{"fields"}``) or up to 10 (``{"records": [...]}``)."""
        single = "records" not in body
        if single and not isinstance(body.get("fields"), dict):
            raise invalid_request("The request needs records or fields")
        items = [{"fields": body["fields"]}] if single else _records_list(body)
        all_cells = await self._prepare_cells(items, bool(body.get("typecast")))
        rows = await self._insert(all_cells)
        rendered = await self._render_many(
            await self._fresh([r.id for r in rows]), bool(body.get("returnFieldsByFieldId"))
        )
        return rendered[0] if single else {"records": rendered}

    def _merge_key(self, merge_on: list[FieldDef], cells: dict[str, Any]) -> str:
        return json.dumps([cells.get(f.id) for f in merge_on], sort_keys=True, default=str)

    # Merge, replace and upsert share one path so their responses cannot drift apart.
    async def update(  # noqa: PLR0915
        self, body: dict[str, Any], *, replace: bool, record_id: str | None = None
    ) -> dict[str, Any]:
        """PATCH (merge) or PUT (replace) one record or up to 10, with optional upsert."""
        typecast = bool(body.get("typecast"))
        if record_id is not None:
            items = [{"id": record_id, "fields": body.get("fields")}]
        else:
            items = _records_list(body)
        upsert = body.get("performUpsert") if record_id is None else None
        merge_on: list[FieldDef] = []
        if upsert is not None:
            names = upsert.get("fieldsToMergeOn") if isinstance(upsert, dict) else None
            if not isinstance(names, list) or not 1 <= len(names) <= 3:
                raise invalid_request("performUpsert.fieldsToMergeOn must list 1 to 3 fields")
            merge_on = [self._field(str(n)) for n in names]
            for key_field in merge_on:
                if key_field.type not in MERGEABLE_TYPES:
                    raise AirtableError(
                        422,
                        "INVALID_FIELDS_TO_MERGE_ON",
                        f'Field "{key_field.name}" ({key_field.type}) cannot be used in '
                        "fieldsToMergeOn",
                    )
        elif any("id" not in spec for spec in items):
            raise invalid_request("Every record to update needs an id")
        all_cells = await self._prepare_cells(items, typecast)
        targets: list[str | None] = []
        if merge_on:
            index: dict[str, list[str]] = {}
            for row in await self.repo.all_records(self.table.id):
                index.setdefault(self._merge_key(merge_on, row.cells), []).append(row.id)
            for spec, cells in zip(items, all_cells, strict=True):
                if "id" in spec:
                    targets.append(str(spec["id"]))
                    continue
                missing = [f.name for f in merge_on if f.id not in cells]
                if missing:
                    raise invalid_request(f"Records to upsert need values for {missing}")
                matches = index.get(self._merge_key(merge_on, cells), [])
                if len(matches) > 1:
                    raise AirtableError(
                        422,
                        "INVALID_RECORDS",
                        "More than one record matches the values of fieldsToMergeOn",
                    )
                targets.append(matches[0] if matches else None)
        else:
            targets = [str(item["id"]) for item in items]
        existing = await self._existing(t for t in targets if t is not None)
        changes: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        current = {rid: dict(row.cells) for rid, row in existing.items()}
        for target, cells in zip(targets, all_cells, strict=True):
            if target is None:
                continue
            base_cells = {} if replace else current[target]
            merged = {**base_cells, **cells}
            current[target] = {k: v for k, v in merged.items() if v is not None}
        for rid, cells in current.items():
            changes[rid] = (existing[rid].cells, cells)
        await self.repo.update_cells({rid: new for rid, (_, new) in changes.items()})
        await self._sync_inverse(changes)
        to_create = [
            cells for target, cells in zip(targets, all_cells, strict=True) if target is None
        ]
        created = await self._insert(to_create) if to_create else []
        created_iter = iter(created)
        order = [t if t is not None else next(created_iter).id for t in targets]
        rendered = await self._render_many(
            await self._fresh(order), bool(body.get("returnFieldsByFieldId"))
        )
        if record_id is not None:
            return rendered[0]
        result: dict[str, Any] = {"records": rendered}
        if merge_on:
            result["createdRecords"] = [r.id for r in created]
            result["updatedRecords"] = [t for t in dict.fromkeys(targets) if t is not None]
        return result

    async def delete(self, ids: list[str]) -> list[dict[str, Any]]:
        """Delete records (and their side of every symmetric link)."""
        if not ids:
            raise invalid_records("Request must include at least one record id")
        if len(ids) > MAX_RECORDS_PER_REQUEST:
            raise invalid_records(
                f"You can delete at most {MAX_RECORDS_PER_REQUEST} records per request"
            )
        existing = await self._existing(ids)
        await self._sync_inverse({rid: (row.cells, {}) for rid, row in existing.items()})
        await self.repo.delete_records(list(existing))
        return [{"id": rid, "deleted": True} for rid in ids]
