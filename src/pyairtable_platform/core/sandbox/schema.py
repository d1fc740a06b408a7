"""In-memory view of one base's schema, loaded once per request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .exceptions import table_not_found

COMPUTED_TYPES = frozenset(
    {
        "formula",
        "multipleLookupValues",
        "rollup",
        "count",
        "createdTime",
        "lastModifiedTime",
        "autoNumber",
        "createdBy",
        "lastModifiedBy",
    }
)


@dataclass
class FieldDef:
    id: str
    name: str
    type: str
    options: dict[str, Any] | None = None
    description: str | None = None
    position: int = 0

    @property
    def computed(self) -> bool:
        return self.type in COMPUTED_TYPES

    def option(self, key: str, default: Any = None) -> Any:
        return (self.options or {}).get(key, default)


@dataclass
class ViewDef:
    id: str
    name: str
    type: str = "grid"
    filter_formula: str | None = None
    sort: list[dict[str, str]] | None = None
    visible_field_ids: list[str] | None = None


@dataclass
class TableDef:
    id: str
    base_id: str
    name: str
    primary_field_id: str
    description: str | None = None
    fields: list[FieldDef] = field(default_factory=list)
    views: list[ViewDef] = field(default_factory=list)

    def field_by_id(self, field_id: str) -> FieldDef | None:
        for item in self.fields:
            if item.id == field_id:
                return item
        return None

    def find_field(self, name_or_id: str) -> FieldDef | None:
        """A field by id, else by exact name, else by case-insensitive name."""
        for item in self.fields:
            if name_or_id in (item.id, item.name):
                return item
        lowered = name_or_id.lower()
        for item in self.fields:
            if item.name.lower() == lowered:
                return item
        return None

    @property
    def primary_field(self) -> FieldDef:
        found = self.field_by_id(self.primary_field_id)
        assert found is not None, "every table has its primary field"
        return found

    def find_view(self, name_or_id: str) -> ViewDef | None:
        for view in self.views:
            if name_or_id in (view.id, view.name):
                return view
        return None


@dataclass
class BaseDef:
    id: str
    name: str
    tables: list[TableDef] = field(default_factory=list)

    def table_by_id(self, table_id: str) -> TableDef | None:
        for table in self.tables:
            if table.id == table_id:
                return table
        return None

    def find_table(self, id_or_name: str) -> TableDef | None:
        for table in self.tables:
            if id_or_name in (table.id, table.name):
                return table
        lowered = id_or_name.lower()
        for table in self.tables:
            if table.name.lower() == lowered:
                return table
        return None

    def require_table(self, id_or_name: str) -> TableDef:
        table = self.find_table(id_or_name)
        if table is None:
            raise table_not_found(id_or_name, self.id)
        return table


@dataclass
class RecordRow:
    """One stored record: ``cells`` holds the writable fields, keyed by field id."""

    id: str
    table_id: str
    cells: dict[str, Any]
    auto_number: int
    seq: int
    created_at: datetime
    last_modified_at: datetime
