"""What a formula can see while it is evaluated for one record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RecordContext:
    """One record as the formula engine sees it.

    ``fields`` maps field *names* to API-shaped Python values; dates and dateTimes are
    ISO-8601 strings. ``field_types`` (field name -> Airtable type such as ``"date"``)
    lets date fields behave as dates in operators, as they do in Airtable.
    """

    fields: Mapping[str, Any]
    record_id: str = ""
    created_time: datetime | None = None
    last_modified_time: datetime | None = None
    now: datetime | None = None
    field_types: Mapping[str, str] = field(default_factory=dict)
