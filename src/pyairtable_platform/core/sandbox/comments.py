"""Record comments: list (newest first, paged), create, update, delete."""

from __future__ import annotations

from typing import Any

from .exceptions import AirtableError, invalid_request, not_found
from .formula.values import format_iso
from .ids import decode_index, encode_index, new_id
from .repository import CommentRow, SandboxRepository, TokenIdentity
from .schema import TableDef

MAX_PAGE_SIZE = 100
SANDBOX_EMAIL = "sandbox@pyairtable.local"


def comment_json(row: CommentRow) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "author": {"id": row.author_id, "email": row.author_email, "name": row.author_name},
        "text": row.text,
        "createdTime": format_iso(row.created_at),
        "lastUpdatedTime": format_iso(row.last_updated_at) if row.last_updated_at else None,
    }
    if row.parent_comment_id:
        body["parentCommentId"] = row.parent_comment_id
    return body


def _text(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"]:
        raise invalid_request("text must be a non-empty string")
    return str(body["text"])


class CommentsService:
    def __init__(self, repo: SandboxRepository, table: TableDef, identity: TokenIdentity) -> None:
        self.repo = repo
        self.table = table
        self.identity = identity

    async def _record(self, record_id: str) -> None:
        row = (await self.repo.records_by_ids([record_id])).get(record_id)
        if row is None or row.table_id != self.table.id:
            raise not_found()

    async def page(self, record_id: str, page_size: int, offset: str | None) -> dict[str, Any]:
        """A page of comments, newest first; ``offset`` is null on the last page."""
        await self._record(record_id)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise invalid_request(f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
        before = None
        if offset:
            before = decode_index(offset[3:]) if offset.startswith("itr") else None
            if before is None:
                raise AirtableError(422, "INVALID_OFFSET_VALUE", f"The offset {offset} is invalid")
        rows = await self.repo.list_comments(record_id, before, page_size + 1)
        page = rows[:page_size]
        next_offset = "itr" + encode_index(page[-1].seq) if len(rows) > page_size else None
        return {"comments": [comment_json(r) for r in page], "offset": next_offset}

    async def create(self, record_id: str, body: Any) -> dict[str, Any]:
        await self._record(record_id)
        text = _text(body)
        parent = body.get("parentCommentId")
        if parent is not None and await self.repo.get_comment(record_id, str(parent)) is None:
            raise invalid_request(f"parentCommentId {parent} names no comment of this record")
        row = await self.repo.insert_comment(
            {
                "id": new_id("com"),
                "record_id": record_id,
                "author_id": self.identity.airtable_user_id,
                "author_name": self.identity.name,
                "author_email": SANDBOX_EMAIL,
                "text": text,
                "parent_comment_id": parent,
            }
        )
        return comment_json(row)

    async def _own(self, record_id: str, comment_id: str) -> CommentRow:
        await self._record(record_id)
        row = await self.repo.get_comment(record_id, comment_id)
        if row is None:
            raise not_found()
        if row.author_id != self.identity.airtable_user_id:
            raise AirtableError(
                403, "INVALID_PERMISSIONS", "Only the author of a comment may change or delete it"
            )
        return row

    async def update(self, record_id: str, comment_id: str, body: Any) -> dict[str, Any]:
        await self._own(record_id, comment_id)
        return comment_json(await self.repo.update_comment(comment_id, _text(body)))

    async def delete(self, record_id: str, comment_id: str) -> dict[str, Any]:
        await self._own(record_id, comment_id)
        await self.repo.delete_comment(comment_id)
        return {"id": comment_id, "deleted": True}
