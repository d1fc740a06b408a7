"""The options of list records, read from a GET query string or a POST listRecords body."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import QueryParams

from .exceptions import AirtableError, invalid_request

MAX_PAGE_SIZE = 100
_SORT_KEY = re.compile(r"^sort\[(\d+)\]\[(field|direction)\]$")
_TRUE = ("1", "true", "True")


@dataclass
class ListQuery:
    page_size: int = MAX_PAGE_SIZE
    max_records: int | None = None
    offset: str | None = None
    view: str | None = None
    fields: list[str] | None = None
    formula: str | None = None
    sort: list[tuple[str, str]] = field(default_factory=list)
    cell_format: str = "json"
    time_zone: str | None = None
    user_locale: str | None = None
    by_field_id: bool = False
    comment_count: bool = False


def _int(name: str, value: Any, minimum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid_request(f"The value of {name} must be an integer") from None
    if number < minimum:
        raise invalid_request(f"The value of {name} must be at least {minimum}")
    return number


def _finish(query: ListQuery) -> ListQuery:
    if query.page_size > MAX_PAGE_SIZE:
        raise AirtableError(
            422, "INVALID_REQUEST_UNKNOWN", f"pageSize must be at most {MAX_PAGE_SIZE}"
        )
    if query.cell_format not in ("json", "string"):
        raise invalid_request('cellFormat must be "json" or "string"')
    if query.cell_format == "string" and not (query.time_zone and query.user_locale):
        raise AirtableError(
            422,
            "INVALID_REQUEST_UNKNOWN",
            "timeZone and userLocale are required when cellFormat is string",
        )
    for _, direction in query.sort:
        if direction not in ("asc", "desc"):
            raise AirtableError(
                422, "INVALID_SORT_DIRECTION", f'Invalid sort direction "{direction}"'
            )
    return query


def from_query_params(params: QueryParams) -> ListQuery:
    query = ListQuery()
    sort: dict[int, dict[str, str]] = {}
    for key, value in params.multi_items():
        if key == "pageSize":
            query.page_size = _int(key, value, 1)
        elif key == "maxRecords":
            query.max_records = _int(key, value, 1)
        elif key == "offset":
            query.offset = value
        elif key == "view":
            query.view = value
        elif key in ("fields[]", "fields"):
            query.fields = [*(query.fields or []), value]
        elif key == "filterByFormula":
            query.formula = value
        elif key == "cellFormat":
            query.cell_format = value
        elif key == "timeZone":
            query.time_zone = value
        elif key == "userLocale":
            query.user_locale = value
        elif key == "returnFieldsByFieldId":
            query.by_field_id = value in _TRUE
        elif key in ("recordMetadata[]", "recordMetadata"):
            query.comment_count = query.comment_count or value == "commentCount"
        elif match := _SORT_KEY.match(key):
            sort.setdefault(int(match.group(1)), {})[match.group(2)] = value
    query.sort = [(s.get("field", ""), s.get("direction", "asc")) for _, s in sorted(sort.items())]
    if any(not name for name, _ in query.sort):
        raise invalid_request("Each sort object needs a field")
    return _finish(query)


def from_body(body: Any, params: QueryParams) -> ListQuery:
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object")
    query = ListQuery(time_zone=params.get("timeZone"), user_locale=params.get("userLocale"))
    if "pageSize" in body:
        query.page_size = _int("pageSize", body["pageSize"], 1)
    if body.get("maxRecords") is not None:
        query.max_records = _int("maxRecords", body["maxRecords"], 1)
    if body.get("offset") is not None:
        query.offset = str(body["offset"])
    if body.get("view") is not None:
        query.view = str(body["view"])
    if body.get("fields") is not None:
        if not isinstance(body["fields"], list) or not all(
            isinstance(f, str) for f in body["fields"]
        ):
            raise invalid_request("fields must be a list of field names or ids")
        query.fields = list(body["fields"])
    if body.get("filterByFormula") is not None:
        query.formula = str(body["filterByFormula"])
    if body.get("cellFormat") is not None:
        query.cell_format = str(body["cellFormat"])
    query.time_zone = body.get("timeZone", query.time_zone)
    query.user_locale = body.get("userLocale", query.user_locale)
    query.by_field_id = bool(body.get("returnFieldsByFieldId", False))
    metadata = body.get("recordMetadata") or []
    query.comment_count = isinstance(metadata, list) and "commentCount" in metadata
    sort = body.get("sort") or []
    if not isinstance(sort, list) or not all(isinstance(s, dict) and s.get("field") for s in sort):
        raise invalid_request("sort must be a list of {field, direction} objects")
    query.sort = [(str(s["field"]), str(s.get("direction", "asc"))) for s in sort]
    return _finish(query)
