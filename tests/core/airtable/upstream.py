"""A small Airtable stand-in the tests control: it counts every request, can hold a
response until released, and injects faults (status codes, slow answers after the write
was applied). The sandbox is the faithful Airtable; this one is for counting and faults."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_ids = itertools.count(1)


@dataclass
class Fault:
    method: str
    path_suffix: str  # matched against the end of the path ("" matches all)
    status: int | None = None
    body: dict[str, Any] | None = None
    delay_after_apply: float = 0.0  # apply the write, then answer this late
    times: int = 1


@dataclass
class Seen:
    method: str
    path: str
    at: float  # time.monotonic() on arrival
    query: str = ""


@dataclass
class Upstream:
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {name, fields}
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # table id -> recs
    seen: list[Seen] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    hold: threading.Event | None = None  # set: answers flow; cleared: list reads wait
    bad_token: str = "bad-token"
    applied_writes: int = 0

    def add_table(self, table_id: str, name: str, fields: list[str]) -> None:
        self.tables[table_id] = {"id": table_id, "name": name, "fields": fields}
        self.records[table_id] = []

    def count(self, method: str, suffix: str = "") -> int:
        return sum(1 for s in self.seen if s.method == method and s.path.endswith(suffix))

    def _table(self, key: str) -> dict[str, Any] | None:
        for table in self.tables.values():
            if key in (table["id"], table["name"]):
                return table
        return None

    def _fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and path.endswith(fault.path_suffix) and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    def app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            path = request.url.path
            self.seen.append(Seen(request.method, path, time.monotonic(), request.url.query))
            if request.headers.get("authorization") == f"Bearer {self.bad_token}":
                return _error(401, "AUTHENTICATION_REQUIRED", "Authentication required")
            fault = self._fault(request.method, path)
            if fault and fault.status:
                return JSONResponse(fault.body or {"error": {"type": "FAULT"}}, fault.status)
            parts = [p for p in path.split("/") if p][1:]  # after v0
            if parts[:2] == ["meta", "bases"]:
                if len(parts) == 2:
                    return JSONResponse({"bases": [{"id": "appA", "name": "Demo"}]})
                return JSONResponse({"tables": [_schema(t) for t in self.tables.values()]})
            table = self._table(parts[1]) if len(parts) > 1 else None
            if table is None:
                return _error(404, "NOT_FOUND", "Could not find table")
            rows = self.records[table["id"]]
            if request.method == "GET" and len(parts) == 2:
                formula = request.query_params.get("filterByFormula", "")
                if "BROKEN(" in formula:
                    return _error(
                        422, "INVALID_FILTER_BY_FORMULA", "Unknown function names: BROKEN"
                    )
                while self.hold is not None and not self.hold.is_set():  # noqa: ASYNC110 - a threading.Event
                    await asyncio.sleep(0.005)
                return JSONResponse({"records": rows})
            if request.method == "GET":
                for row in rows:
                    if row["id"] == parts[2]:
                        return JSONResponse(row)
                return _error(404, "NOT_FOUND", "Could not find record")
            if request.method == "DELETE":
                ids = request.query_params.getlist("records[]")
                self.records[table["id"]] = [r for r in rows if r["id"] not in ids]
                return JSONResponse({"records": [{"id": i, "deleted": True} for i in ids]})
            body = await request.json()
            for item in body.get("records", []):
                unknown = set(item.get("fields", {})) - set(table["fields"])
                if unknown:
                    name = sorted(unknown)[0]
                    return _error(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{name}"')
            if request.method == "POST":
                created = [
                    {"id": f"rec{next(_ids):014d}", "createdTime": "", "fields": item["fields"]}
                    for item in body["records"]
                ]
                rows.extend(created)
                result: dict[str, Any] = {"records": created}
            else:  # PATCH / PUT
                updated = []
                for item in body["records"]:
                    for row in rows:
                        if row["id"] == item.get("id"):
                            row["fields"].update(item["fields"])
                            updated.append(row)
                result = {"records": updated}
            self.applied_writes += 1
            if fault and fault.delay_after_apply:
                await asyncio.sleep(fault.delay_after_apply)
            return JSONResponse(result)

        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", handle, methods=methods)])


def _schema(table: dict[str, Any]) -> dict[str, Any]:
    fields = [{"id": f"fld{i:014d}", "name": n, "type": "singleLineText"} for i, n in
              enumerate(table["fields"])]  # fmt: skip
    return {"id": table["id"], "name": table["name"], "fields": fields, "views": []}


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status)
