"""REST API of Airtable access: ``/api/v1/airtable/...`` (connections, bases, schema, records,
comments, attachments, tables and fields, aggregates, cache, mirror sync).

Thin handlers: each builds an :class:`AirtableService` for the caller's active workspace
(permissions by role from ``core/auth/permissions.py``) and calls one method.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi.responses import JSONResponse

from pyairtable_platform.core.actions.models import Action as WriteAction
from pyairtable_platform.core.actions.rest import pending, run_as_action, write_as_action
from pyairtable_platform.core.airtable.connections import ConnectionService
from pyairtable_platform.core.airtable.deps import AirtableDepsDep
from pyairtable_platform.core.airtable.schemas import (
    AggregateIn,
    AggregateResult,
    AttachmentsIn,
    BaseSchema,
    BaseSummary,
    CommentIn,
    ConnectionCreate,
    ConnectionOut,
    ConnectionRotate,
    ConnectionTest,
    CreateRecordsIn,
    DeleteRecordsIn,
    FieldIn,
    FieldSchema,
    RecordIn,
    RecordPage,
    RenameIn,
    SyncIn,
    SyncStatus,
    TableIn,
    TableSchema,
    UpdateRecordsIn,
    UpsertRecordsIn,
    WriteOutcome,
)
from pyairtable_platform.core.airtable.service import AirtableService
from pyairtable_platform.core.auth.deps import TenantSession, require_permission
from pyairtable_platform.core.auth.permissions import Action
from pyairtable_platform.kit.auth import Identity

router = APIRouter(prefix="/api/v1/airtable", tags=["airtable"])

RecordId = Annotated[str, "path"]


def _service(action: Action) -> Any:
    async def build(
        session: TenantSession,
        deps: AirtableDepsDep,
        # A default, not Annotated: the annotation would name the closure's ``action``,
        # which FastAPI cannot resolve from the postponed (string) annotation.
        identity: Identity = require_permission(action),  # noqa: B008
    ) -> AirtableService:
        return AirtableService(session, identity, deps, channel="api")

    return Depends(build)


ConnectionReader = Annotated[Identity, require_permission(Action.AIRTABLE_CONNECTIONS_READ)]
ConnectionManager = Annotated[Identity, require_permission(Action.AIRTABLE_CONNECTIONS_MANAGE)]
Reader = Annotated[AirtableService, _service(Action.AIRTABLE_READ)]
Writer = Annotated[AirtableService, _service(Action.AIRTABLE_WRITE)]
SchemaWriter = Annotated[AirtableService, _service(Action.AIRTABLE_SCHEMA_WRITE)]
Syncer = Annotated[AirtableService, _service(Action.AIRTABLE_SYNC)]


def _one_record(action: WriteAction, record_id: str) -> dict[str, Any]:
    """A single-record write's answer: the record as Airtable left it (or what waits for
    approval)."""
    if action.status == "previewed":
        return pending(action)
    if action.operation == "delete":
        return {"id": record_id, "deleted": True}
    fields = ((action.after or {}).get("records") or {}).get(record_id, {})
    return {"id": record_id, "fields": fields}


def _schema_answer(action: WriteAction, key: str) -> dict[str, Any] | JSONResponse:
    if action.status == "previewed":
        return JSONResponse(
            pending(action), status_code=202, headers={"X-Action-Id": str(action.id)}
        )
    value: dict[str, Any] = (action.after or {})[key]
    return value


def _written(outcome: WriteOutcome, response: Response) -> WriteOutcome:
    # 207: some records were written and some were not; the body says which.
    if outcome.failed:
        response.status_code = 207
    return outcome


# ----- connections -----------------------------------------------------------------------


@router.get("/connections")
async def list_connections(
    session: TenantSession,
    deps: AirtableDepsDep,
    _: ConnectionReader,
) -> list[ConnectionOut]:
    """The workspace's Airtable connections (tokens are never shown, only a hint)."""
    return await ConnectionService(session, deps).list_connections()


@router.post("/connections", status_code=201)
async def create_connection(
    body: ConnectionCreate,
    session: TenantSession,
    deps: AirtableDepsDep,
    identity: ConnectionManager,
) -> ConnectionOut:
    """Connect the workspace to Airtable with a personal access token (checked with
    Airtable's whoami, stored encrypted), or to the sandbox (``kind: sandbox``; without a
    token the platform issues one)."""
    assert identity.workspace_id is not None
    return await ConnectionService(session, deps).create(
        identity.workspace_id, identity.user_id, body
    )


@router.post("/connections/{connection_id}/test")
async def check_connection(
    connection_id: uuid.UUID,
    session: TenantSession,
    deps: AirtableDepsDep,
    _: ConnectionReader,
) -> ConnectionTest:
    """Ask Airtable whether the stored token still works; the status follows."""
    return await ConnectionService(session, deps).test(connection_id)


@router.post("/connections/{connection_id}/rotate")
async def rotate_connection(
    connection_id: uuid.UUID,
    session: TenantSession,
    deps: AirtableDepsDep,
    _: ConnectionManager,
    body: ConnectionRotate | None = None,
) -> ConnectionOut:
    """Replace the connection's token (validated first)."""
    token = body.token.get_secret_value() if body and body.token else None
    return await ConnectionService(session, deps).rotate(connection_id, token)


@router.delete("/connections/{connection_id}", status_code=204)
async def remove_connection(
    connection_id: uuid.UUID,
    session: TenantSession,
    deps: AirtableDepsDep,
    _: ConnectionManager,
) -> None:
    """Remove the connection and everything mirrored through it."""
    await ConnectionService(session, deps).remove(connection_id)


# ----- bases, schema, cache, sync --------------------------------------------------------


@router.get("/bases")
async def list_bases(service: Reader) -> list[BaseSummary]:
    """Bases of every active connection, with their mirror status."""
    return await service.list_bases()


@router.get("/bases/{base_id}/schema")
async def get_schema(base_id: str, service: Reader) -> BaseSchema:
    """Tables, fields (id, name, type, options), views and primary field of a base."""
    return await service.get_schema(base_id)


@router.post("/cache/invalidate", status_code=204)
async def invalidate_cache(
    service: Writer, base: Annotated[str | None, Query(description="one base only")] = None
) -> None:
    """Drop what the shared cache holds for a base (or for every connection)."""
    await service.invalidate_cache(base)


@router.get("/bases/{base_id}/sync")
async def sync_status(base_id: str, service: Reader) -> SyncStatus:
    """The mirror's state for a base: per-table progress, records, last sync times."""
    return await service.sync_status(base_id)


@router.post("/bases/{base_id}/sync", status_code=202)
async def sync_base(
    base_id: str, service: Syncer, response: Response, body: SyncIn | None = None
) -> SyncStatus:
    """Start a sync of the base's mirror: a durable job (202), or with ``wait`` now (200).
    ``full`` re-reads every record and drops records deleted in Airtable."""
    body = body or SyncIn()
    if body.wait:
        response.status_code = 200
        return await service.sync(base_id, full=body.full)
    return await service.enqueue_sync(base_id, full=body.full)


# ----- tables and fields -----------------------------------------------------------------


@router.post("/bases/{base_id}/tables", status_code=201, response_model=TableSchema)
async def create_table(
    base_id: str, body: TableIn, service: SchemaWriter, response: Response
) -> dict[str, Any] | JSONResponse:
    """Create a table (its first field becomes the primary field). Recorded as an action;
    Airtable's API cannot delete tables, so it is not revertible."""
    action = await run_as_action(
        service,
        response,
        operation="create_table",
        base_id=base_id,
        name=body.name,
        description=body.description,
        fields=[f.model_dump(exclude_none=True) for f in body.fields],
    )
    return _schema_answer(action, "table")


@router.patch("/bases/{base_id}/tables/{table}", response_model=TableSchema)
async def update_table(
    base_id: str, table: str, body: RenameIn, *, service: SchemaWriter, response: Response
) -> dict[str, Any] | JSONResponse:
    """Rename a table or change its description (an action; revertible)."""
    action = await run_as_action(
        service,
        response,
        operation="update_table",
        base_id=base_id,
        table=table,
        name=body.name,
        description=body.description,
    )
    return _schema_answer(action, "table")


@router.post("/bases/{base_id}/tables/{table}/fields", status_code=201, response_model=FieldSchema)
async def create_field(
    base_id: str, table: str, body: FieldIn, service: SchemaWriter, response: Response
) -> dict[str, Any] | JSONResponse:
    """Add a field to a table. Recorded as an action; Airtable's API cannot delete fields, so
    it is not revertible."""
    action = await run_as_action(
        service,
        response,
        operation="create_field",
        base_id=base_id,
        table=table,
        name=body.name,
        field_type=body.type,
        description=body.description,
        options=body.options,
    )
    return _schema_answer(action, "field")


@router.patch("/bases/{base_id}/tables/{table}/fields/{field}", response_model=FieldSchema)
async def update_field(
    base_id: str,
    table: str,
    field: str,
    body: RenameIn,
    *,
    service: SchemaWriter,
    response: Response,
) -> dict[str, Any] | JSONResponse:
    """Rename a field or change its description (an action; revertible)."""
    action = await run_as_action(
        service,
        response,
        operation="update_field",
        base_id=base_id,
        table=table,
        field=field,
        name=body.name,
        description=body.description,
    )
    return _schema_answer(action, "field")


# ----- records ---------------------------------------------------------------------------

_RECORDS = "/bases/{base_id}/tables/{table}/records"


@router.get(_RECORDS)
async def list_records(  # noqa: PLR0917 - one query parameter each
    base_id: str,
    table: str,
    service: Reader,
    formula: Annotated[
        str | None, Query(alias="filterByFormula", max_length=10_000, description="a formula")
    ] = None,
    sort: Annotated[
        list[str] | None, Query(description="field names; '-Field' sorts descending")
    ] = None,
    fields: Annotated[list[str] | None, Query(description="only these fields")] = None,
    view: str | None = None,
    page_size: Annotated[int | None, Query(alias="pageSize", ge=1, le=100)] = None,
    offset: str | None = None,
    max_records: Annotated[int | None, Query(alias="maxRecords", ge=1)] = None,
) -> RecordPage:
    """A page of records with Airtable's options; ``total`` is the table's exact size from
    the mirror when no formula or view narrows it."""
    return await service.list_records(
        base_id,
        table,
        formula=formula,
        sort=sort,
        fields=fields,
        view=view,
        page_size=page_size,
        offset=offset,
        max_records=max_records,
    )


@router.post(_RECORDS, status_code=201)
async def create_records(
    base_id: str, table: str, body: CreateRecordsIn, service: Writer, response: Response
) -> WriteOutcome:
    """Create any number of records (sent to Airtable 10 per request)."""
    records = [r.fields for r in body.records]
    outcome = await write_as_action(
        service,
        response,
        operation="create",
        base_id=base_id,
        table=table,
        records=records,
        typecast=body.typecast,
    )
    return _written(outcome, response)


@router.patch(_RECORDS)
async def update_records(
    base_id: str, table: str, body: UpdateRecordsIn, service: Writer, response: Response
) -> WriteOutcome:
    """Update records (only the given fields change)."""
    records = [r.model_dump() for r in body.records]
    outcome = await write_as_action(
        service,
        response,
        operation="update",
        base_id=base_id,
        table=table,
        records=records,
        typecast=body.typecast,
    )
    return _written(outcome, response)


@router.put(_RECORDS)
async def replace_records(
    base_id: str, table: str, body: UpdateRecordsIn, service: Writer, response: Response
) -> WriteOutcome:
    """Replace records (fields not given are cleared)."""
    records = [r.model_dump() for r in body.records]
    outcome = await write_as_action(
        service,
        response,
        operation="update",
        base_id=base_id,
        table=table,
        records=records,
        replace=True,
        typecast=body.typecast,
    )
    return _written(outcome, response)


@router.post(_RECORDS + "/upsert")
async def upsert_records(
    base_id: str, table: str, body: UpsertRecordsIn, service: Writer, response: Response
) -> WriteOutcome:
    """Update the records whose ``fieldsToMergeOn`` values match, create the others."""
    records = [{"fields": r.fields} for r in body.records]
    outcome = await write_as_action(
        service,
        response,
        operation="upsert",
        base_id=base_id,
        table=table,
        records=records,
        merge_on=body.merge_on,
        replace=body.replace,
        typecast=body.typecast,
    )
    return _written(outcome, response)


@router.delete(_RECORDS)
async def delete_records(
    base_id: str,
    table: str,
    service: Writer,
    response: Response,
    ids: Annotated[list[str], Query(alias="records[]", min_length=1, max_length=500)],
) -> WriteOutcome:
    """Delete records by id (``?records[]=rec…&records[]=rec…``; for long lists use
    ``POST .../records/delete``)."""
    body = DeleteRecordsIn(ids=ids)
    outcome = await write_as_action(
        service, response, operation="delete", base_id=base_id, table=table, record_ids=body.ids
    )
    return _written(outcome, response)


@router.post(_RECORDS + "/delete")
async def delete_many_records(
    base_id: str, table: str, body: DeleteRecordsIn, service: Writer, response: Response
) -> WriteOutcome:
    """Delete any number of records by id."""
    outcome = await write_as_action(
        service, response, operation="delete", base_id=base_id, table=table, record_ids=body.ids
    )
    return _written(outcome, response)


@router.post("/bases/{base_id}/tables/{table}/aggregate")
async def aggregate(
    base_id: str, table: str, body: AggregateIn, service: Reader
) -> AggregateResult:
    """Exact count, sum, avg, min, max, count_distinct over the whole table, optionally
    grouped by one or two fields and filtered; computed in SQL over the mirror (works while
    Airtable is down; ``freshness`` says how old the data is)."""
    return await service.aggregate(
        base_id,
        table,
        metrics=body.metrics,
        group_by=body.group_by,
        filters=body.filters,
        limit=body.limit,
    )


_RECORD = _RECORDS + "/{record_id}"


@router.get(_RECORD)
async def get_record(
    base_id: str,
    table: str,
    record_id: str,
    service: Reader,
    expand: Annotated[
        str | None, Query(description="'links': linked records as {id, name, fields}")
    ] = None,
) -> dict[str, Any]:
    """One record; ``?expand=links`` expands linked records (from the mirror)."""
    return await service.get_record(base_id, table, record_id, expand_links=expand == "links")


@router.patch(_RECORD)
async def update_record(
    base_id: str, table: str, record_id: str, body: RecordIn, *, service: Writer, response: Response
) -> dict[str, Any]:
    """Update one record (an action: revertible)."""
    action = await run_as_action(
        service,
        response,
        operation="update",
        base_id=base_id,
        table=table,
        records=[{"id": record_id, **body.model_dump()}],
    )
    return _one_record(action, record_id)


@router.put(_RECORD)
async def replace_record(
    base_id: str, table: str, record_id: str, body: RecordIn, *, service: Writer, response: Response
) -> dict[str, Any]:
    """Replace one record (fields not given are cleared; an action: revertible)."""
    action = await run_as_action(
        service,
        response,
        operation="update",
        base_id=base_id,
        table=table,
        records=[{"id": record_id, **body.model_dump()}],
        replace=True,
    )
    return _one_record(action, record_id)


@router.delete(_RECORD)
async def delete_record(
    base_id: str, table: str, record_id: str, service: Writer, response: Response
) -> dict[str, Any]:
    """Delete one record (an action: a revert re-creates it with a new id)."""
    action = await run_as_action(
        service, response, operation="delete", base_id=base_id, table=table, record_ids=[record_id]
    )
    return _one_record(action, record_id)


@router.get(_RECORD + "/comments")
async def list_comments(base_id: str, table: str, record_id: str, service: Reader) -> list[Any]:
    """Comments of a record."""
    return await service.list_comments(base_id, table, record_id)


@router.post(_RECORD + "/comments", status_code=201)
async def create_comment(
    base_id: str,
    table: str,
    record_id: str,
    body: CommentIn,
    *,
    service: Writer,
    response: Response,
) -> dict[str, Any]:
    """Comment on a record (recorded as an action; comments are not revertible)."""
    action = await run_as_action(
        service,
        response,
        operation="create_comment",
        base_id=base_id,
        table=table,
        record_id=record_id,
        text=body.text,
        parent_comment_id=body.parent_comment_id,
    )
    comment: dict[str, Any] = (action.after or {}).get("comment") or pending(action)
    return comment


@router.post(_RECORD + "/attachments")
async def add_attachments(
    base_id: str,
    table: str,
    record_id: str,
    *,
    service: Writer,
    response: Response,
    body: Annotated[AttachmentsIn, Body()],
) -> dict[str, Any]:
    """Append attachments by URL to an attachment field (Airtable downloads them). An action:
    a revert puts the field back as it was."""
    action = await run_as_action(
        service,
        response,
        operation="add_attachments",
        base_id=base_id,
        table=table,
        record_id=record_id,
        field=body.field,
        attachments=[a.model_dump() for a in body.attachments],
    )
    return _one_record(action, record_id)
