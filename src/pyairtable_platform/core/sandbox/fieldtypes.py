"""Field types: their schema options, how written values are checked (and typecast),
and how stored cells are rendered in responses."""

from __future__ import annotations

import math
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from .exceptions import AirtableError, invalid_value
from .formula.values import format_iso, is_blank, parse_datetime, to_str
from .ids import looks_like, new_id
from .schema import FieldDef

TEXT_TYPES = frozenset(
    {"singleLineText", "multilineText", "richText", "email", "url", "phoneNumber"}
)
NUMBER_TYPES = frozenset({"number", "currency", "percent", "duration", "rating"})
WRITABLE_TYPES = (
    TEXT_TYPES
    | NUMBER_TYPES
    | {
        "checkbox",
        "singleSelect",
        "multipleSelects",
        "date",
        "dateTime",
        "multipleRecordLinks",
        "multipleAttachments",
    }
)
SUPPORTED_TYPES = WRITABLE_TYPES | {
    "formula",
    "multipleLookupValues",
    "rollup",
    "createdTime",
    "lastModifiedTime",
    "autoNumber",
    "count",
}
CHOICE_COLORS = (
    "blueLight2",
    "cyanLight2",
    "tealLight2",
    "greenLight2",
    "yellowLight2",
    "orangeLight2",
    "redLight2",
    "pinkLight2",
    "purpleLight2",
    "grayLight2",
)
_DATE_FORMAT = {"format": "YYYY-MM-DD", "name": "iso"}
_TIME_FORMAT = {"format": "HH:mm", "name": "24hour"}
_INTEGER = re.compile(r"^[+-]?\d+$")


def normalise_options(item: FieldDef) -> dict[str, Any] | None:
    """Options as Airtable's schema endpoint shows them, with every key clients expect."""
    opts = dict(item.options or {})
    kind = item.type
    if kind in ("number", "percent"):
        return {"precision": int(opts.get("precision", 0))}
    if kind == "currency":
        return {"precision": int(opts.get("precision", 2)), "symbol": opts.get("symbol", "$")}
    if kind == "rating":
        return {
            "color": opts.get("color", "yellowBright"),
            "icon": opts.get("icon", "star"),
            "max": int(opts.get("max", 5)),
        }
    if kind == "checkbox":
        return {"color": opts.get("color", "greenBright"), "icon": opts.get("icon", "check")}
    if kind == "duration":
        return {"durationFormat": opts.get("durationFormat", "h:mm")}
    if kind in ("singleSelect", "multipleSelects"):
        choices = []
        for index, choice in enumerate(opts.get("choices") or []):
            choices.append(
                {
                    "id": choice.get("id") or new_id("sel"),
                    "name": str(choice.get("name", "")),
                    "color": choice.get("color") or CHOICE_COLORS[index % len(CHOICE_COLORS)],
                }
            )
        return {"choices": choices}
    if kind == "date":
        return {"dateFormat": opts.get("dateFormat") or dict(_DATE_FORMAT)}
    if kind == "dateTime":
        return {
            "dateFormat": opts.get("dateFormat") or dict(_DATE_FORMAT),
            "timeFormat": opts.get("timeFormat") or dict(_TIME_FORMAT),
            "timeZone": opts.get("timeZone", "utc"),
        }
    if kind == "multipleAttachments":
        return {"isReversed": bool(opts.get("isReversed", False))}
    if kind == "multipleRecordLinks":
        return {
            "linkedTableId": opts.get("linkedTableId"),
            "isReversed": bool(opts.get("isReversed", False)),
            "prefersSingleRecordLink": bool(opts.get("prefersSingleRecordLink", False)),
            "inverseLinkFieldId": opts.get("inverseLinkFieldId"),
        }
    if kind in ("createdTime", "lastModifiedTime"):
        shown = {"type": "dateTime", "options": normalise_options(FieldDef("", "", "dateTime"))}
        out: dict[str, Any] = {"result": shown}
        if kind == "lastModifiedTime":
            out.update(isValid=True, referencedFieldIds=opts.get("referencedFieldIds", []))
        return out
    if kind == "count":
        return {"isValid": True, "recordLinkFieldId": opts.get("recordLinkFieldId")}
    if kind in ("formula", "rollup", "multipleLookupValues"):
        out = {k: v for k, v in opts.items() if k != "result"}
        out.setdefault("isValid", True)
        result: Any = opts.get("result")
        if isinstance(result, dict) and result.get("type"):
            shape = FieldDef("", "", str(result["type"]), result.get("options"))
            normalised = normalise_options(shape)
            out["result"] = {"type": shape.type, **({"options": normalised} if normalised else {})}
        return out
    return opts or None


def field_json(item: FieldDef) -> dict[str, Any]:
    body: dict[str, Any] = {"id": item.id, "name": item.name, "type": item.type}
    if item.description:
        body["description"] = item.description
    options = normalise_options(item)
    if options is not None:
        body["options"] = options
    return body


@dataclass
class WriteEffects:
    """What writing cells needs done besides storing them."""

    new_choices: dict[str, list[str]] = field(default_factory=dict)  # field id -> names
    link_names: dict[str, set[str]] = field(default_factory=dict)  # linked table -> names


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number_from_text(text: str) -> float | int | None:
    cleaned = re.sub(r"[,$€£%\s]", "", text)
    try:
        number = float(cleaned)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if _INTEGER.match(cleaned) else number


def _choice_names(item: FieldDef) -> list[str]:
    return [str(c.get("name")) for c in (item.option("choices") or [])]


def _select(item: FieldDef, value: Any, typecast: bool, effects: WriteEffects) -> str:
    if isinstance(value, str):
        name = value
    elif typecast and value is not None:
        name = to_str(value)
    else:
        raise invalid_value(item.name, "expected the name of a choice")
    names = _choice_names(item)
    if name in names:
        return name
    for choice in item.option("choices") or []:
        if choice.get("id") == name:
            return str(choice.get("name"))
    if not typecast:
        raise AirtableError(
            422,
            "INVALID_MULTIPLE_CHOICE_OPTIONS",
            f'Insufficient permissions to create new select option ""{name}""',
        )
    pending = effects.new_choices.setdefault(item.id, [])
    if name not in pending:
        pending.append(name)
    return name


def _date(item: FieldDef, value: Any, typecast: bool) -> str:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or (not typecast and not re.match(r"^\d{4}-\d{2}-\d{2}", str(value))):
        raise invalid_value(item.name, "expected an ISO 8601 date")
    if item.type == "date":
        return parsed.strftime("%Y-%m-%d")
    return format_iso(parsed.astimezone(UTC))


def _attachment(item: FieldDef, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("url") or value.get("id"), str):
        raise invalid_value(item.name, "attachments are objects with a url")
    if "url" not in value:
        raise invalid_value(item.name, "an attachment needs a url")
    url = str(value["url"])
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise invalid_value(item.name, f"attachment url {url!r} is not an http(s) URL")
    filename = str(value.get("filename") or parsed.path.rsplit("/", 1)[-1] or "file")
    attachment: dict[str, Any] = {
        "id": value["id"] if looks_like(value.get("id"), "att") else new_id("att"),
        "url": url,
        "filename": filename,
    }
    mime = value.get("type") or mimetypes.guess_type(filename)[0]
    if mime:
        attachment["type"] = mime
    if isinstance(value.get("size"), int):
        attachment["size"] = value["size"]
    return attachment


# One branch per field type reads more plainly than a table of tiny converters.
def to_cell(item: FieldDef, value: Any, typecast: bool, effects: WriteEffects) -> Any:  # noqa: PLR0915
    """Check (and with ``typecast`` convert) a written value; ``None`` clears the cell."""
    if item.computed:
        raise invalid_value(item.name, "the field is computed and cannot be written")
    if item.type not in WRITABLE_TYPES:
        raise invalid_value(item.name, f"the sandbox cannot write {item.type} fields")
    if is_blank(value):
        return None
    kind = item.type
    if kind in TEXT_TYPES:
        if isinstance(value, str):
            return value
        if typecast and (_is_number(value) or isinstance(value, bool)):
            return to_str(value)
        raise invalid_value(item.name, "expected text")
    if kind in NUMBER_TYPES:
        number: Any = value
        if isinstance(value, str) and typecast:
            number = _number_from_text(value)
        if not _is_number(number):
            raise invalid_value(item.name, "expected a number")
        if kind == "rating":
            if not float(number).is_integer() or not 1 <= number <= int(item.option("max", 5)):
                raise invalid_value(item.name, "a rating is a whole number from 1 to its max")
            return int(number)
        return number
    if kind == "checkbox":
        if isinstance(value, bool):
            return value or None
        if typecast:
            text = to_str(value).strip().lower()
            return (text not in ("", "0", "false", "no", "off", "unchecked")) or None
        raise invalid_value(item.name, "expected true or false")
    if kind == "singleSelect":
        return _select(item, value, typecast, effects)
    if kind == "multipleSelects":
        items = value
        if isinstance(value, str) and typecast:
            items = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(items, list):
            raise invalid_value(item.name, "expected a list of choice names")
        out: list[str] = []
        for name in items:
            chosen = _select(item, name, typecast, effects)
            if chosen not in out:
                out.append(chosen)
        return out or None
    if kind in ("date", "dateTime"):
        return _date(item, value, typecast)
    if kind == "multipleRecordLinks":
        items = value
        if isinstance(value, str) and typecast:
            items = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(items, list):
            raise invalid_value(item.name, "expected a list of record ids")
        links: list[str] = []
        for entry in items:
            rec = entry.get("id") if isinstance(entry, dict) else entry
            if not isinstance(rec, str):
                raise invalid_value(item.name, "expected record ids")
            if not looks_like(rec, "rec"):
                if not typecast:
                    raise invalid_value(item.name, f"{rec!r} is not a record id")
                table_id = str(item.option("linkedTableId"))
                effects.link_names.setdefault(table_id, set()).add(rec)
                rec = "name:" + rec  # resolved to an id once names are looked up
            if rec not in links:
                links.append(rec)
        if item.option("prefersSingleRecordLink") and len(links) > 1 and not typecast:
            links = links[:1]
        return links or None
    if kind == "multipleAttachments":
        if not isinstance(value, list):
            raise invalid_value(item.name, "expected a list of attachments")
        return [_attachment(item, entry) for entry in value] or None
    raise invalid_value(item.name)  # pragma: no cover - WRITABLE_TYPES is exhaustive


def render_json(item: FieldDef, value: Any) -> Any:
    """A stored or computed value as ``cellFormat=json`` shows it; ``None`` is omitted."""
    if is_blank(value) or value is False:
        return None
    if isinstance(value, datetime):
        return format_iso(value)
    return value


def render_string(value: Any) -> str | None:
    """``cellFormat=string``: what Airtable's grid shows, as text."""
    if is_blank(value) or value is False:
        return None
    if value is True:
        return "checked"
    return to_str(value)
