"""``/v0/meta/...`` (whoami, bases, schema, tables, fields) and the ``/_faults`` admin API."""

from __future__ import annotations

from fastapi import APIRouter, Request

from pyairtable_platform.kit.responses import JSONResponse

from . import limits
from .deps import Call, JsonObject
from .exceptions import invalid_request
from .meta import MetaService, table_json

router = APIRouter(prefix="/v0/meta")
faults_router = APIRouter(prefix="/_faults")

SCOPES = [
    "data.records:read",
    "data.records:write",
    "data.recordComments:read",
    "data.recordComments:write",
    "schema.bases:read",
    "schema.bases:write",
]


@router.get("/whoami")
async def whoami(call: Call) -> JSONResponse:
    """The token's user id and scopes."""
    return JSONResponse({"id": call.identity.airtable_user_id, "scopes": SCOPES})


@router.get("/bases")
async def list_bases(call: Call, request: Request) -> JSONResponse:
    """Bases of the token's workspace, with ``offset`` paging."""
    return JSONResponse(await MetaService(call.repo).list_bases(request.query_params.get("offset")))


@router.post("/bases")
async def create_base(call: Call, body: JsonObject) -> JSONResponse:
    """Create a base with at least one table."""
    return JSONResponse(await MetaService(call.repo).create_base(body))


@router.get("/bases/{base_id}/tables")
async def base_schema(call: Call, request: Request, base_id: str) -> JSONResponse:
    """The base's tables with their fields (and options) and views."""
    base = await MetaService(call.repo).base(base_id)
    include = request.query_params.getlist("include[]") + request.query_params.getlist("include")
    visible = "visibleFieldIds" in include
    return JSONResponse({"tables": [table_json(t, visible_field_ids=visible) for t in base.tables]})


@router.post("/bases/{base_id}/tables")
async def create_table(call: Call, body: JsonObject, base_id: str) -> JSONResponse:
    """Create a table; its first field becomes the primary field."""
    service = MetaService(call.repo)
    return JSONResponse(await service.create_table(await service.base(base_id), body))


@router.patch("/bases/{base_id}/tables/{table}")
async def update_table(call: Call, body: JsonObject, base_id: str, table: str) -> JSONResponse:
    """Rename a table or change its description."""
    service = MetaService(call.repo)
    return JSONResponse(await service.update_table(await service.base(base_id), table, body))


@router.post("/bases/{base_id}/tables/{table}/fields")
async def create_field(call: Call, body: JsonObject, base_id: str, table: str) -> JSONResponse:
    """Create a field (a link field also creates its inverse in the linked table)."""
    service = MetaService(call.repo)
    return JSONResponse(await service.create_field(await service.base(base_id), table, body))


@router.patch("/bases/{base_id}/tables/{table}/fields/{field_id}")
async def update_field(
    call: Call, body: JsonObject, base_id: str, table: str, field_id: str
) -> JSONResponse:
    """Rename a field or change its description."""
    service = MetaService(call.repo)
    base = await service.base(base_id)
    return JSONResponse(await service.update_field(base, table, field_id, body))


async def _fault_key(call: Call, scope: object, base_id: object) -> str:
    if scope == "token":
        return limits.fault_key("token", call.token_hash)
    if scope == "base" and isinstance(base_id, str):
        await MetaService(call.repo).base(base_id)  # only bases of the token's workspace
        return limits.fault_key("base", base_id)
    raise invalid_request('scope must be "token", or "base" with a baseId')


@faults_router.post("")
async def set_fault(call: Call, body: JsonObject) -> JSONResponse:
    """Inject a fault for this token or one of its bases: latency, a status for the next
    ``count`` requests, or dropped connections. Expires after ``ttlSeconds``."""
    key = await _fault_key(call, body.get("scope", "token"), body.get("baseId"))
    fault = limits.parse_fault(body)
    await limits.set_fault(call.redis, key, fault, limits.ttl_seconds(body))
    return JSONResponse({"scope": body.get("scope", "token"), **fault.json()})


@faults_router.delete("")
async def clear_faults(call: Call, request: Request) -> JSONResponse:
    """Remove this token's fault, and the fault of ``?baseId=`` if given."""
    keys = [limits.fault_key("token", call.token_hash)]
    base_id = request.query_params.get("baseId")
    if base_id:
        keys.append(await _fault_key(call, "base", base_id))
    for key in keys:
        await limits.clear_fault(call.redis, key)
    return JSONResponse({"cleared": len(keys)})
