"""The one client for all Airtable traffic (the real API or the sandbox).

Built on ``pyairtable`` (synchronous), whose calls run in a bounded pool of worker
threads. Every upstream HTTP request goes through :class:`GuardedSession`:

- the async side takes a slot from the Redis rate limiter, then hands exactly one
  pyairtable call to a worker thread together with a short-lived permit for that base;
- the session's ``send`` consumes the permit; a request without a fresh permit (a call
  pyairtable expanded into more requests, or a thread that started late) takes a slot the
  slow way, through the event loop, before it leaves — nothing reaches Airtable unmetered.

pyairtable's own retrying is switched off: retries are decided here, per operation —
reads and idempotent writes retry on 5xx, timeouts and connection errors; a create that
may have reached Airtable is never resent (:class:`AirtableWriteUncertain`); a 429 pauses
the base for everyone and the request is retried (a 429 is never processed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from typing import Any, Literal

from pyairtable_platform.core.airtable.client_core import BATCH, ClientCore
from pyairtable_platform.core.airtable.exceptions import (
    AirtableError,
    AirtableInvalidRequest,
)
from pyairtable_platform.core.airtable.transport import (
    AirtableConnection,
    ChunkFailure,
    Record,
    UpstreamCall,
    UsageRecorder,
    WriteResult,
    sort_option,
)

__all__ = [
    "AirtableClient",
    "AirtableConnection",
    "ChunkFailure",
    "UpstreamCall",
    "UsageRecorder",
    "WriteResult",
]


class AirtableClient(ClientCore):
    """All Airtable operations of one connection, rate-limited, cached and retried.

    Create one per connection (core's lifespan keeps them) and ``aclose()`` it at the end.
    The machinery, and the bases and schema reads, live in :class:`~.client_core.ClientCore`.
    """

    # ----- reads -----------------------------------------------------------------

    async def list_records_page(
        self,
        base_id: str,
        table: str,
        *,
        formula: str | None = None,
        sort: Sequence[str | dict[str, str]] | None = None,
        fields: Sequence[str] | None = None,
        view: str | None = None,
        page_size: int | None = None,
        offset: str | None = None,
        max_records: int | None = None,
        cell_format: Literal["json", "string"] | None = None,
        time_zone: str | None = None,
        user_locale: str | None = None,
    ) -> dict[str, Any]:
        """One page of records: ``{"records": [...], "offset": str | None}`` (cached)."""
        options: dict[str, Any] = {
            "formula": formula,
            "sort": sort_option(sort),
            "fields": list(fields) if fields else None,
            "view": view,
            "page_size": page_size,
            "offset": offset,
            "max_records": max_records,
            "cell_format": cell_format,
            "time_zone": time_zone,
            "user_locale": user_locale,
        }
        options = {k: v for k, v in options.items() if v is not None}

        async def load() -> dict[str, Any]:
            tbl = self.api.table(base_id, table)
            page: dict[str, Any] = await self._call(
                "list_records",
                base_id,
                table,
                partial(
                    self.api.request,
                    "GET",
                    tbl.urls.records,
                    fallback=("POST", tbl.urls.records_post),
                    options=options,
                ),
            )
            return {"records": page.get("records", []), "offset": page.get("offset")}

        return await self.cache.records(base_id, table, "page", options, load)

    async def iterate_records(
        self, base_id: str, table: str, **options: Any
    ) -> AsyncIterator[list[Record]]:
        """Pages of records until the end (or ``max_records``)."""
        offset: str | None = options.pop("offset", None)
        while True:
            page = await self.list_records_page(base_id, table, offset=offset, **options)
            yield page["records"]
            offset = page.get("offset")
            if not offset:
                return

    async def list_records(self, base_id: str, table: str, **options: Any) -> list[Record]:
        """All records matching the options, every page fetched (each page cached)."""
        records: list[Record] = []
        async for page in self.iterate_records(base_id, table, **options):
            records.extend(page)
        return records

    async def get_record(self, base_id: str, table: str, record_id: str) -> Record:
        """One record by id (cached with the records TTL)."""

        async def load() -> Record:
            tbl = self.api.table(base_id, table)
            result = await self._call(
                "get_record", base_id, table, partial(tbl.get, record_id), record_id=record_id
            )
            return dict(result)

        return await self.cache.records(base_id, table, "record", {"id": record_id}, load)

    async def list_comments(self, base_id: str, table: str, record_id: str) -> list[Any]:
        """Comments of a record, oldest pages first (cached with the records TTL)."""

        async def load() -> list[Any]:
            url = self.api.table(base_id, table).urls.record_comments(record_id)
            comments: list[Any] = []
            offset: str | None = None
            while True:
                params = {"offset": offset} if offset else {}
                page = await self._call(
                    "list_comments",
                    base_id,
                    table,
                    partial(self.api.request, "GET", url, params=params),
                    record_id=record_id,
                )
                comments.extend(page.get("comments", []))
                offset = page.get("offset")
                if not offset:
                    return comments

        return await self.cache.records(base_id, table, "comments", {"id": record_id}, load)

    # ----- record writes ---------------------------------------------------------

    async def create_records(
        self, base_id: str, table: str, records: Sequence[dict[str, Any]], *, typecast: bool = False
    ) -> WriteResult:
        """Create any number of records (each item is a ``fields`` dict), 10 per request.

        A chunk whose request may have reached Airtable without an answer fails with
        :class:`AirtableWriteUncertain` and is not resent.
        """
        tbl = self.api.table(base_id, table)
        return await self._write(
            "create_records",
            base_id,
            table,
            list(records),
            lambda chunk: partial(tbl.batch_create, chunk, typecast=typecast),
            idempotent=False,
        )

    async def update_records(
        self,
        base_id: str,
        table: str,
        records: Sequence[dict[str, Any]],
        *,
        replace: bool = False,
        typecast: bool = False,
    ) -> WriteResult:
        """Update records (``{"id", "fields"}`` items) — PATCH, or PUT with ``replace``."""
        tbl = self.api.table(base_id, table)
        return await self._write(
            "replace_records" if replace else "update_records",
            base_id,
            table,
            list(records),
            lambda chunk: partial(tbl.batch_update, chunk, replace=replace, typecast=typecast),
            idempotent=True,
        )

    async def upsert_records(
        self,
        base_id: str,
        table: str,
        records: Sequence[dict[str, Any]],
        *,
        key_fields: Sequence[str],
        replace: bool = False,
        typecast: bool = False,
    ) -> WriteResult:
        """Update-or-create by ``key_fields`` (Airtable's performUpsert); items are
        ``{"fields": {...}}`` with an optional ``id``. Resending is safe: a record created by
        a lost first attempt is matched, not duplicated, by the second."""
        for record in records:
            missing = set(key_fields) - set(record.get("fields", {}))
            if "id" not in record and missing:
                raise AirtableInvalidRequest(
                    f"every upserted record needs the key fields {sorted(key_fields)}; "
                    f"one is missing {sorted(missing)}"
                )
        tbl = self.api.table(base_id, table)
        return await self._write(
            "upsert_records",
            base_id,
            table,
            list(records),
            lambda chunk: partial(
                tbl.batch_upsert, chunk, list(key_fields), replace=replace, typecast=typecast
            ),
            idempotent=True,
        )

    async def delete_records(
        self, base_id: str, table: str, record_ids: Sequence[str]
    ) -> WriteResult:
        """Delete records by id, 10 per request."""
        tbl = self.api.table(base_id, table)
        return await self._write(
            "delete_records",
            base_id,
            table,
            list(record_ids),
            lambda chunk: partial(tbl.batch_delete, chunk),
            idempotent=True,
        )

    async def add_comment(
        self,
        base_id: str,
        table: str,
        record_id: str,
        text: str,
        *,
        parent_comment_id: str | None = None,
    ) -> dict[str, Any]:
        """Comment on a record (a create: not resent when its outcome is unknown)."""
        url = self.api.table(base_id, table).urls.record_comments(record_id)
        payload: dict[str, Any] = {"text": text}
        if parent_comment_id:
            payload["parentCommentId"] = parent_comment_id
        try:
            result: dict[str, Any] = await self._call(
                "add_comment",
                base_id,
                table,
                partial(self.api.request, "POST", url, json=payload),
                idempotent=False,
                attempted=[payload],
                record_id=record_id,
            )
        finally:
            await self.cache.invalidate_records(base_id, table)
        return result

    # ----- schema writes ---------------------------------------------------------

    async def create_table(
        self,
        base_id: str,
        name: str,
        fields: Sequence[dict[str, Any]],
        *,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Create a table (its first field becomes the primary field)."""
        payload: dict[str, Any] = {"name": name, "fields": list(fields)}
        if description:
            payload["description"] = description
        url = self.api.base(base_id).urls.tables
        return await self._schema_write(
            "create_table", base_id, None, partial(self.api.request, "POST", url, json=payload),
            idempotent=False, attempted=[payload],
        )  # fmt: skip

    async def update_table(
        self,
        base_id: str,
        table: str,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Rename a table or change its description."""
        payload = {k: v for k, v in {"name": name, "description": description}.items() if v}
        if not payload:
            raise AirtableInvalidRequest("give a new name or description for the table")
        url = self.api.build_url("meta/bases", base_id, "tables", table)
        return await self._schema_write(
            "update_table", base_id, table,
            partial(self.api.request, "PATCH", url, json=payload), idempotent=True,
        )  # fmt: skip

    async def create_field(
        self,
        base_id: str,
        table: str,
        name: str,
        field_type: str,
        *,
        description: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add a field to a table."""
        payload: dict[str, Any] = {"name": name, "type": field_type}
        if description:
            payload["description"] = description
        if options:
            payload["options"] = options
        url = self.api.table(base_id, table).urls.fields
        return await self._schema_write(
            "create_field", base_id, table, partial(self.api.request, "POST", url, json=payload),
            idempotent=False, attempted=[payload],
        )  # fmt: skip

    async def update_field(
        self,
        base_id: str,
        table: str,
        field_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Rename a field or change its description."""
        payload = {k: v for k, v in {"name": name, "description": description}.items() if v}
        if not payload:
            raise AirtableInvalidRequest("give a new name or description for the field")
        url = self.api.table(base_id, table).urls.fields / field_id
        return await self._schema_write(
            "update_field", base_id, table,
            partial(self.api.request, "PATCH", url, json=payload), idempotent=True,
        )  # fmt: skip

    async def invalidate_cache(self, base_id: str | None = None) -> None:
        """Forget what is cached for a base (or the whole connection)."""
        await self.cache.invalidate(base_id)

    # ----- machinery -------------------------------------------------------------

    async def _schema_write(
        self,
        operation: str,
        base_id: str,
        table: str | None,
        fn: Callable[[], Any],
        *,
        idempotent: bool,
        attempted: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await self._call(
                operation, base_id, table, fn, idempotent=idempotent, attempted=attempted
            )
        finally:
            await self.cache.invalidate_schema(base_id)
        return result

    async def _write(
        self,
        operation: str,
        base_id: str,
        table: str,
        items: list[Any],
        make_call: Callable[[list[Any]], Callable[[], Any]],
        *,
        idempotent: bool,
    ) -> WriteResult:
        chunks = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
        outcomes: list[Any] = [None] * len(chunks)
        done = [False] * len(chunks)
        result = WriteResult()
        state = {"next": 0, "failed": False}

        async def worker() -> None:
            while not state["failed"] and state["next"] < len(chunks):
                index = state["next"]
                state["next"] = index + 1
                chunk = chunks[index]
                try:
                    outcomes[index] = await self._call(
                        operation,
                        base_id,
                        table,
                        make_call(chunk),
                        idempotent=idempotent,
                        attempted=chunk,
                    )
                    done[index] = True
                except AirtableError as exc:
                    result.failures.append(ChunkFailure(index, chunk, exc))
                    state["failed"] = True
                result.requests += 1

        try:
            workers = min(self.settings.write_concurrency, len(chunks))
            await asyncio.gather(*(worker() for _ in range(workers)))
        finally:
            await self.cache.invalidate_records(base_id, table)
        failed = {f.index for f in result.failures}
        for index, outcome in enumerate(outcomes):
            if done[index]:
                if isinstance(outcome, dict):  # upsert
                    result.records.extend(outcome.get("records", []))
                    result.created_record_ids.extend(outcome.get("createdRecords", []))
                    result.updated_record_ids.extend(outcome.get("updatedRecords", []))
                else:
                    result.records.extend(outcome)
            elif index not in failed:
                result.not_attempted.extend(chunks[index])
        result.failures.sort(key=lambda f: f.index)
        if result.failures and not any(done):
            raise result.failures[0].error
        return result
