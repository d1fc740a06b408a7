"""Records and comments: ``/v0/{baseId}/{tableIdOrName}[/{recordId}[/comments]]``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from pyairtable_platform.kit.responses import JSONResponse

from . import listing
from .comments import CommentsService
from .deps import Call, JsonObject, json_body
from .exceptions import invalid_request
from .meta import MetaService
from .records import RecordsService

router = APIRouter(prefix="/v0/{base_id}/{table}")


async def _records(call: Call, base_id: str, table: str) -> RecordsService:
    base = await MetaService(call.repo).base(base_id)
    return RecordsService(call.repo, base, base.require_table(table))


async def _comments(call: Call, base_id: str, table: str) -> CommentsService:
    base = await MetaService(call.repo).base(base_id)
    return CommentsService(call.repo, base.require_table(table), call.identity)


@router.get("")
async def list_records(call: Call, request: Request, base_id: str, table: str) -> JSONResponse:
    """List records: pageSize, offset, maxRecords, fields[], sort, view, filterByFormula..."""
    query = listing.from_query_params(request.query_params)
    return JSONResponse(await (await _records(call, base_id, table)).list_page(query))


@router.post("/listRecords")
async def list_records_post(call: Call, request: Request, base_id: str, table: str) -> JSONResponse:
    """List records with the options in a JSON body (for URLs that would be too long)."""
    query = listing.from_body(await json_body(request), request.query_params)
    return JSONResponse(await (await _records(call, base_id, table)).list_page(query))


@router.get("/{record_id}")
async def get_record(
    call: Call, request: Request, base_id: str, table: str, record_id: str
) -> JSONResponse:
    """One record by id."""
    params = request.query_params
    by_id = params.get("returnFieldsByFieldId") in ("1", "true")
    cell_format = params.get("cellFormat", "json")
    service = await _records(call, base_id, table)
    return JSONResponse(await service.get(record_id, by_id=by_id, cell_format=cell_format))


@router.post("")
async def create_records(call: Call, body: JsonObject, base_id: str, table: str) -> JSONResponse:
    """Create one record or up to 10; ``typecast`` converts values where it can."""
    return JSONResponse(await (await _records(call, base_id, table)).create(body))


@router.patch("")
async def update_records(call: Call, body: JsonObject, base_id: str, table: str) -> JSONResponse:
    """Update up to 10 records, merging fields; ``performUpsert`` matches on fields."""
    service = await _records(call, base_id, table)
    return JSONResponse(await service.update(body, replace=False))


@router.put("")
async def replace_records(call: Call, body: JsonObject, base_id: str, table: str) -> JSONResponse:
    """Replace up to 10 records (unset fields are cleared); ``performUpsert`` matches."""
    service = await _records(call, base_id, table)
    return JSONResponse(await service.update(body, replace=True))


@router.patch("/{record_id}")
async def update_record(
    call: Call, body: JsonObject, base_id: str, table: str, record_id: str
) -> JSONResponse:
    """Update one record, merging fields."""
    service = await _records(call, base_id, table)
    return JSONResponse(await service.update(body, replace=False, record_id=record_id))


@router.put("/{record_id}")
async def replace_record(
    call: Call, body: JsonObject, base_id: str, table: str, record_id: str
) -> JSONResponse:
    """Replace one record's fields."""
    service = await _records(call, base_id, table)
    return JSONResponse(await service.update(body, replace=True, record_id=record_id))


@router.delete("")
async def delete_records(call: Call, request: Request, base_id: str, table: str) -> JSONResponse:
    """Delete up to 10 records given as ``records[]`` query parameters."""
    params = request.query_params
    ids = params.getlist("records[]") + params.getlist("records")
    service = await _records(call, base_id, table)
    return JSONResponse({"records": await service.delete(ids)})


@router.delete("/{record_id}")
async def delete_record(call: Call, base_id: str, table: str, record_id: str) -> JSONResponse:
    """Delete one record."""
    service = await _records(call, base_id, table)
    return JSONResponse((await service.delete([record_id]))[0])


@router.get("/{record_id}/comments")
async def list_comments(
    call: Call, request: Request, base_id: str, table: str, record_id: str
) -> JSONResponse:
    """Comments of a record, newest first, ``pageSize`` ≤ 100 with ``offset`` paging."""
    raw_size = request.query_params.get("pageSize", "100")
    if not raw_size.isdigit():
        raise invalid_request("pageSize must be an integer")
    service = await _comments(call, base_id, table)
    body: dict[str, Any] = await service.page(
        record_id, int(raw_size), request.query_params.get("offset")
    )
    return JSONResponse(body)


@router.post("/{record_id}/comments")
async def create_comment(
    call: Call, body: JsonObject, base_id: str, table: str, record_id: str
) -> JSONResponse:
    """Add a comment (optionally a reply, ``parentCommentId``)."""
    service = await _comments(call, base_id, table)
    return JSONResponse(await service.create(record_id, body))


@router.patch("/{record_id}/comments/{comment_id}")
async def update_comment(
    call: Call, body: JsonObject, *, base_id: str, table: str, record_id: str, comment_id: str
) -> JSONResponse:
    """Change the text of one's own comment."""
    service = await _comments(call, base_id, table)
    return JSONResponse(await service.update(record_id, comment_id, body))


@router.delete("/{record_id}/comments/{comment_id}")
async def delete_comment(
    call: Call, base_id: str, table: str, record_id: str, comment_id: str
) -> JSONResponse:
    """Delete one's own comment."""
    service = await _comments(call, base_id, table)
    return JSONResponse(await service.delete(record_id, comment_id))
