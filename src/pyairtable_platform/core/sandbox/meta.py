"""Metadata: bases, base schema, tables and fields, as ``/v0/meta/...`` serves them."""

from __future__ import annotations

from typing import Any

from .exceptions import AirtableError, invalid_request, model_not_found
from .fieldtypes import SUPPORTED_TYPES, TEXT_TYPES, field_json, normalise_options
from .formula import FormulaError, compile_formula
from .ids import decode_index, encode_index, new_id
from .repository import SandboxRepository
from .schema import BaseDef, FieldDef, TableDef, ViewDef

BASES_PAGE_SIZE = 1000
PRIMARY_TYPES = TEXT_TYPES - {"richText"} | {
    "number",
    "currency",
    "percent",
    "duration",
    "date",
    "dateTime",
    "formula",
    "autoNumber",
}


def table_json(table: TableDef, *, visible_field_ids: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": table.id,
        "name": table.name,
        "primaryFieldId": table.primary_field_id,
        "fields": [field_json(f) for f in table.fields],
        "views": [],
    }
    if table.description:
        body["description"] = table.description
    for view in table.views:
        shown: dict[str, Any] = {"id": view.id, "name": view.name, "type": view.type}
        if visible_field_ids and view.type == "grid":
            shown["visibleFieldIds"] = view.visible_field_ids or [f.id for f in table.fields]
        body["views"].append(shown)
    return body


def _text(body: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid_request(f"{key} must be a non-empty string")
    return value.strip()


class MetaService:
    def __init__(self, repo: SandboxRepository) -> None:
        self.repo = repo

    async def base(self, base_id: str) -> BaseDef:
        base = await self.repo.load_base(base_id)
        if base is None:
            raise model_not_found()
        return base

    async def list_bases(self, offset: str | None) -> dict[str, Any]:
        """All bases of the token's workspace, 1,000 per page."""
        after = 0
        if offset:
            decoded = decode_index(offset[3:]) if offset.startswith("itr") else None
            if decoded is None:
                raise AirtableError(422, "INVALID_OFFSET_VALUE", f"The offset {offset} is invalid")
            after = decoded
        rows = await self.repo.list_bases(after, BASES_PAGE_SIZE + 1)
        page = rows[:BASES_PAGE_SIZE]
        body: dict[str, Any] = {
            "bases": [{"id": r.id, "name": r.name, "permissionLevel": "create"} for r in page]
        }
        if len(rows) > BASES_PAGE_SIZE:
            body["offset"] = "itr" + encode_index(page[-1].seq)
        return body

    async def create_base(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a base with its tables (each table's first field is its primary field)."""
        name = _text(body, "name")
        tables = body.get("tables")
        if not isinstance(tables, list) or not tables:
            raise invalid_request("tables must be a non-empty list")
        base_id = new_id("app")
        await self.repo.insert_base(base_id, str(name))
        base = BaseDef(id=base_id, name=str(name))
        created = [await self._create_table(base, spec) for spec in tables]
        return {"id": base_id, "tables": [table_json(t) for t in created]}

    async def create_table(self, base: BaseDef, body: dict[str, Any]) -> dict[str, Any]:
        return table_json(await self._create_table(base, body))

    async def _create_table(self, base: BaseDef, spec: Any) -> TableDef:
        if not isinstance(spec, dict):
            raise invalid_request("a table must be an object")
        name = str(_text(spec, "name"))
        if base.find_table(name) is not None and base.find_table(name).name.lower() == name.lower():  # type: ignore[union-attr]
            raise AirtableError(422, "DUPLICATE_TABLE_NAME", f'A table named "{name}" exists')
        fields = spec.get("fields")
        if not isinstance(fields, list) or not fields:
            raise invalid_request("fields must be a non-empty list")
        first = fields[0] if isinstance(fields[0], dict) else {}
        if first.get("type") not in PRIMARY_TYPES:
            raise AirtableError(
                422,
                "INVALID_FIELD_TYPE_FOR_PRIMARY",
                f"The primary field cannot be of type {first.get('type')}",
            )
        table = TableDef(
            id=new_id("tbl"),
            base_id=base.id,
            name=name,
            primary_field_id="",
            description=_text(spec, "description", required=False),
        )
        table.primary_field_id = new_id("fld")
        await self.repo.insert_table(base.id, table, len(base.tables))
        base.tables.append(table)
        for index, field_spec in enumerate(fields):
            await self._create_field(
                base, table, field_spec, field_id=table.primary_field_id if index == 0 else None
            )
        view = ViewDef(id=new_id("viw"), name="Grid view")
        await self.repo.insert_view(table.id, view, 0)
        table.views.append(view)
        return table

    async def update_table(
        self, base: BaseDef, table_ref: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Rename a table or change its description."""
        table = base.require_table(table_ref)
        values: dict[str, Any] = {}
        if body.get("name") is not None:
            name = str(_text(body, "name"))
            other = base.find_table(name)
            if other is not None and other.id != table.id and other.name.lower() == name.lower():
                raise AirtableError(422, "DUPLICATE_TABLE_NAME", f'A table named "{name}" exists')
            values["name"] = table.name = name
        if "description" in body:
            values["description"] = table.description = body["description"] or None
        if values:
            await self.repo.update_table(table.id, values)
        return table_json(table)

    async def create_field(
        self, base: BaseDef, table_ref: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        table = base.require_table(table_ref)
        return field_json(await self._create_field(base, table, body))

    async def _create_field(
        self, base: BaseDef, table: TableDef, spec: Any, *, field_id: str | None = None
    ) -> FieldDef:
        if not isinstance(spec, dict):
            raise invalid_request("a field must be an object")
        name = str(_text(spec, "name"))
        kind = spec.get("type")
        if kind not in SUPPORTED_TYPES:
            raise AirtableError(
                422, "INVALID_FIELD_TYPE", f"The sandbox does not support field type {kind!r}"
            )
        existing = table.find_field(name)
        if existing is not None and existing.name.lower() == name.lower():
            raise AirtableError(
                422, "DUPLICATE_OR_EMPTY_FIELD_NAME", f'A field named "{name}" already exists'
            )
        options = spec.get("options")
        if options is not None and not isinstance(options, dict):
            raise invalid_request("options must be an object")
        item = FieldDef(
            id=field_id or new_id("fld"),
            name=name,
            type=str(kind),
            options=dict(options or {}),
            description=_text(spec, "description", required=False),
            position=len(table.fields),
        )
        inverse: tuple[TableDef, FieldDef] | None = None
        if item.type == "multipleRecordLinks":
            linked = base.find_table(str(item.option("linkedTableId", "")))
            if linked is None:
                raise AirtableError(
                    422, "INVALID_FIELD_TYPE_OPTIONS", "options.linkedTableId names no table"
                )
            assert item.options is not None
            item.options["linkedTableId"] = linked.id
            if linked.id != table.id:
                back_name = table.name
                while linked.find_field(back_name) is not None:
                    back_name += " 2"
                back = FieldDef(
                    id=new_id("fld"),
                    name=back_name,
                    type="multipleRecordLinks",
                    options={"linkedTableId": table.id, "inverseLinkFieldId": item.id},
                    position=len(linked.fields),
                )
                item.options["inverseLinkFieldId"] = back.id
                inverse = (linked, back)
        elif item.type in ("multipleLookupValues", "rollup", "count"):
            self._check_linked_options(table, base, item)
        elif item.type == "formula":
            self._check_formula(table, str(item.option("formula", "")))
        item.options = normalise_options(item)
        await self.repo.insert_field(table.id, item)
        table.fields.append(item)
        if inverse is not None:
            linked, back = inverse
            back.options = normalise_options(back)
            await self.repo.insert_field(linked.id, back)
            linked.fields.append(back)
        return item

    @staticmethod
    def _check_formula(table: TableDef, formula: str) -> None:
        known = [f.name for f in table.fields] + [f.id for f in table.fields]
        try:
            compile_formula(formula, known)
        except FormulaError as exc:
            raise AirtableError(
                422, "INVALID_FIELD_TYPE_OPTIONS", f"Invalid formula: {exc.message}"
            ) from None

    @staticmethod
    def _check_linked_options(table: TableDef, base: BaseDef, item: FieldDef) -> None:
        link = table.field_by_id(str(item.option("recordLinkFieldId", "")))
        if link is None or link.type != "multipleRecordLinks":
            raise AirtableError(
                422, "INVALID_FIELD_TYPE_OPTIONS", "options.recordLinkFieldId names no link field"
            )
        if item.type == "count":
            return
        linked = base.table_by_id(str(link.option("linkedTableId")))
        if linked is None or linked.field_by_id(str(item.option("fieldIdInLinkedTable"))) is None:
            raise AirtableError(
                422,
                "INVALID_FIELD_TYPE_OPTIONS",
                "options.fieldIdInLinkedTable names no field of the linked table",
            )

    async def update_field(
        self, base: BaseDef, table_ref: str, field_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Rename a field or change its description."""
        table = base.require_table(table_ref)
        item = table.field_by_id(field_id) or table.find_field(field_id)
        if item is None:
            raise AirtableError(404, "NOT_FOUND")
        values: dict[str, Any] = {}
        if body.get("name") is not None:
            name = str(_text(body, "name"))
            other = table.find_field(name)
            if other is not None and other.id != item.id and other.name.lower() == name.lower():
                raise AirtableError(
                    422, "DUPLICATE_OR_EMPTY_FIELD_NAME", f'A field named "{name}" already exists'
                )
            values["name"] = item.name = name
        if "description" in body:
            values["description"] = item.description = body["description"] or None
        if values:
            await self.repo.update_field(item.id, values)
        return field_json(item)
