"""All SQL of the sandbox. Every statement runs under the workspace's RLS context."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import (
    SandboxBase,
    SandboxComment,
    SandboxField,
    SandboxRecord,
    SandboxTable,
    SandboxToken,
    SandboxView,
)
from .schema import BaseDef, FieldDef, RecordRow, TableDef, ViewDef

_RECORD_COLUMNS = (
    SandboxRecord.id,
    SandboxRecord.table_id,
    SandboxRecord.cells,
    SandboxRecord.auto_number,
    SandboxRecord.seq,
    SandboxRecord.created_at,
    SandboxRecord.last_modified_at,
)


@dataclass(frozen=True)
class TokenIdentity:
    token_id: uuid.UUID
    workspace_id: uuid.UUID
    airtable_user_id: str
    name: str


@dataclass(frozen=True)
class BaseRow:
    id: str
    name: str
    seq: int


@dataclass(frozen=True)
class CommentRow:
    id: str
    record_id: str
    author_id: str
    author_name: str
    author_email: str
    text: str
    parent_comment_id: str | None
    seq: int
    created_at: datetime
    last_updated_at: datetime | None


def _record(row: Row[Any]) -> RecordRow:
    return RecordRow(
        id=row.id,
        table_id=row.table_id,
        cells=dict(row.cells or {}),
        auto_number=row.auto_number,
        seq=row.seq,
        created_at=row.created_at,
        last_modified_at=row.last_modified_at,
    )


def _comment(row: Any) -> CommentRow:
    return CommentRow(
        id=row.id,
        record_id=row.record_id,
        author_id=row.author_id,
        author_name=row.author_name,
        author_email=row.author_email,
        text=row.text,
        parent_comment_id=row.parent_comment_id,
        seq=row.seq,
        created_at=row.created_at,
        last_updated_at=row.last_updated_at,
    )


class SandboxRepository:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.session = session
        self.workspace_id = workspace_id

    # tokens -------------------------------------------------------------------------------

    @staticmethod
    async def token_identity(session: AsyncSession, token_hash: str) -> TokenIdentity | None:
        row = (
            await session.execute(
                text("SELECT * FROM sandbox.token_identity(:h)"), {"h": token_hash}
            )
        ).first()
        if row is None:
            return None
        return TokenIdentity(row.token_id, row.workspace_id, row.airtable_user_id, row.name)

    async def insert_token(
        self, *, token_hash: str, name: str, airtable_user_id: str, user_id: uuid.UUID | None
    ) -> uuid.UUID:
        token_id = uuid.uuid4()
        await self.session.execute(
            insert(SandboxToken).values(
                id=token_id,
                workspace_id=self.workspace_id,
                user_id=user_id,
                airtable_user_id=airtable_user_id,
                name=name,
                token_hash=token_hash,
            )
        )
        return token_id

    # bases and schema ---------------------------------------------------------------------

    async def list_bases(self, after_seq: int, limit: int) -> list[BaseRow]:
        rows = await self.session.execute(
            select(SandboxBase.id, SandboxBase.name, SandboxBase.seq)
            .where(SandboxBase.seq > after_seq)
            .order_by(SandboxBase.seq)
            .limit(limit)
        )
        return [BaseRow(r.id, r.name, r.seq) for r in rows]

    async def find_base_by_name(self, name: str) -> str | None:
        return (
            (
                await self.session.execute(
                    select(SandboxBase.id).where(SandboxBase.name == name).order_by(SandboxBase.seq)
                )
            )
            .scalars()
            .first()
        )

    async def insert_base(self, base_id: str, name: str) -> None:
        await self.session.execute(
            insert(SandboxBase).values(id=base_id, workspace_id=self.workspace_id, name=name)
        )

    async def load_base(self, base_id: str) -> BaseDef | None:
        base = (
            await self.session.execute(
                select(SandboxBase.id, SandboxBase.name).where(SandboxBase.id == base_id)
            )
        ).first()
        if base is None:
            return None
        result = BaseDef(id=base.id, name=base.name)
        tables = await self.session.execute(
            select(SandboxTable)
            .where(SandboxTable.base_id == base_id)
            .order_by(SandboxTable.position)
        )
        by_id: dict[str, TableDef] = {}
        for t in tables.scalars():
            table = TableDef(
                id=t.id,
                base_id=t.base_id,
                name=t.name,
                primary_field_id=t.primary_field_id,
                description=t.description,
            )
            by_id[t.id] = table
            result.tables.append(table)
        if not by_id:
            return result
        fields = await self.session.execute(
            select(SandboxField)
            .where(SandboxField.table_id.in_(list(by_id)))
            .order_by(SandboxField.table_id, SandboxField.position)
        )
        for f in fields.scalars():
            by_id[f.table_id].fields.append(
                FieldDef(f.id, f.name, f.type, f.options, f.description, f.position)
            )
        views = await self.session.execute(
            select(SandboxView)
            .where(SandboxView.table_id.in_(list(by_id)))
            .order_by(SandboxView.table_id, SandboxView.position)
        )
        for v in views.scalars():
            by_id[v.table_id].views.append(
                ViewDef(v.id, v.name, v.type, v.filter_formula, v.sort, v.visible_field_ids)
            )
        return result

    async def insert_table(self, base_id: str, table: TableDef, position: int) -> None:
        await self.session.execute(
            insert(SandboxTable).values(
                id=table.id,
                workspace_id=self.workspace_id,
                base_id=base_id,
                name=table.name,
                description=table.description,
                primary_field_id=table.primary_field_id,
                position=position,
            )
        )

    async def update_table(self, table_id: str, values: dict[str, Any]) -> None:
        await self.session.execute(
            update(SandboxTable).where(SandboxTable.id == table_id).values(**values)
        )

    async def insert_field(self, table_id: str, item: FieldDef) -> None:
        await self.session.execute(
            insert(SandboxField).values(
                id=item.id,
                workspace_id=self.workspace_id,
                table_id=table_id,
                name=item.name,
                type=item.type,
                description=item.description,
                options=item.options,
                position=item.position,
            )
        )

    async def update_field(self, field_id: str, values: dict[str, Any]) -> None:
        await self.session.execute(
            update(SandboxField).where(SandboxField.id == field_id).values(**values)
        )

    async def insert_view(self, table_id: str, view: ViewDef, position: int) -> None:
        await self.session.execute(
            insert(SandboxView).values(
                id=view.id,
                workspace_id=self.workspace_id,
                table_id=table_id,
                name=view.name,
                type=view.type,
                position=position,
                filter_formula=view.filter_formula,
                sort=view.sort,
                visible_field_ids=view.visible_field_ids,
            )
        )

    async def reserve_auto_numbers(self, table_id: str, count: int) -> int:
        """The first of ``count`` consecutive auto numbers, reserved for new records."""
        first = (
            await self.session.execute(
                update(SandboxTable)
                .where(SandboxTable.id == table_id)
                .values(next_auto_number=SandboxTable.next_auto_number + count)
                .returning(SandboxTable.next_auto_number - count)
            )
        ).scalar_one()
        return int(first)

    # records ------------------------------------------------------------------------------

    async def all_records(self, table_id: str) -> list[RecordRow]:
        rows = await self.session.execute(
            select(*_RECORD_COLUMNS)
            .where(SandboxRecord.table_id == table_id)
            .order_by(SandboxRecord.seq)
        )
        return [_record(r) for r in rows]

    async def record_page(
        self, table_id: str, *, from_seq: int | None, skip: int, limit: int
    ) -> list[RecordRow]:
        query = select(*_RECORD_COLUMNS).where(SandboxRecord.table_id == table_id)
        if from_seq is not None:
            query = query.where(SandboxRecord.seq >= from_seq)
        else:
            query = query.offset(skip)
        rows = await self.session.execute(query.order_by(SandboxRecord.seq).limit(limit))
        return [_record(r) for r in rows]

    async def count_records(self, table_id: str) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.count()).where(SandboxRecord.table_id == table_id)
                )
            ).scalar_one()
        )

    async def records_by_ids(self, ids: Iterable[str]) -> dict[str, RecordRow]:
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = await self.session.execute(
            select(*_RECORD_COLUMNS).where(SandboxRecord.id.in_(wanted))
        )
        return {r.id: _record(r) for r in rows}

    async def insert_records(self, rows: Sequence[dict[str, Any]]) -> list[RecordRow]:
        """Insert records (``id``, ``table_id``, ``cells``, ``auto_number``) in order."""
        if not rows:
            return []
        values = [{**row, "workspace_id": self.workspace_id} for row in rows]
        result = await self.session.execute(
            insert(SandboxRecord).values(values).returning(*_RECORD_COLUMNS)
        )
        by_id = {r.id: _record(r) for r in result}
        return [by_id[row["id"]] for row in rows]

    async def update_cells(self, changes: dict[str, dict[str, Any]]) -> dict[str, RecordRow]:
        """Replace the cells of each record id; returns the updated rows."""
        out: dict[str, RecordRow] = {}
        for record_id, cells in changes.items():
            row = (
                await self.session.execute(
                    update(SandboxRecord)
                    .where(SandboxRecord.id == record_id)
                    .values(cells=cells, last_modified_at=func.now())
                    .returning(*_RECORD_COLUMNS)
                )
            ).first()
            if row is not None:
                out[record_id] = _record(row)
        return out

    async def delete_records(self, ids: Sequence[str]) -> None:
        await self.session.execute(delete(SandboxRecord).where(SandboxRecord.id.in_(list(ids))))

    async def find_by_primary(
        self, table_id: str, field_id: str, values: list[str]
    ) -> dict[str, str]:
        """Map primary-field text to the first record id holding it (for typecast links)."""
        if not values:
            return {}
        rows = await self.session.execute(
            select(SandboxRecord.id, SandboxRecord.cells[field_id].astext.label("value"))
            .where(
                SandboxRecord.table_id == table_id,
                SandboxRecord.cells[field_id].astext.in_(values),
            )
            .order_by(SandboxRecord.seq)
        )
        found: dict[str, str] = {}
        for r in rows:
            found.setdefault(r.value, r.id)
        return found

    # comments -----------------------------------------------------------------------------

    async def comment_counts(self, record_ids: Sequence[str]) -> dict[str, int]:
        if not record_ids:
            return {}
        rows = await self.session.execute(
            select(SandboxComment.record_id, func.count())
            .where(SandboxComment.record_id.in_(list(record_ids)))
            .group_by(SandboxComment.record_id)
        )
        return {r[0]: int(r[1]) for r in rows}

    async def list_comments(
        self, record_id: str, before_seq: int | None, limit: int
    ) -> list[CommentRow]:
        query = select(SandboxComment).where(SandboxComment.record_id == record_id)
        if before_seq is not None:
            query = query.where(SandboxComment.seq < before_seq)
        rows = await self.session.execute(query.order_by(SandboxComment.seq.desc()).limit(limit))
        return [_comment(c) for c in rows.scalars()]

    async def get_comment(self, record_id: str, comment_id: str) -> CommentRow | None:
        row = (
            await self.session.execute(
                select(SandboxComment).where(
                    SandboxComment.id == comment_id, SandboxComment.record_id == record_id
                )
            )
        ).scalar_one_or_none()
        return _comment(row) if row is not None else None

    async def insert_comment(self, values: dict[str, Any]) -> CommentRow:
        row = (
            await self.session.execute(
                insert(SandboxComment)
                .values(**values, workspace_id=self.workspace_id)
                .returning(SandboxComment)
            )
        ).scalar_one()
        return _comment(row)

    async def update_comment(self, comment_id: str, new_text: str) -> CommentRow:
        row = (
            await self.session.execute(
                update(SandboxComment)
                .where(SandboxComment.id == comment_id)
                .values(text=new_text, last_updated_at=func.now())
                .returning(SandboxComment)
            )
        ).scalar_one()
        return _comment(row)

    async def delete_comment(self, comment_id: str) -> None:
        await self.session.execute(delete(SandboxComment).where(SandboxComment.id == comment_id))
