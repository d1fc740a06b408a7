"""The mirror side of the Airtable service: exact aggregates, search, and the sync of a
base's mirror (now, or as a durable job)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pyairtable_platform.core.airtable.client import AirtableClient
from pyairtable_platform.core.airtable.exceptions import (
    MirrorNotReady,
    SyncInProgress,
)
from pyairtable_platform.core.airtable.schemas import (
    AggregateGroup,
    AggregateResult,
    Filter,
    Metric,
    OtherHit,
    RecordHit,
    SearchResult,
    SyncStatus,
)
from pyairtable_platform.core.airtable.service_base import (
    AirtableServiceBase,
    mirror_freshness,
)
from pyairtable_platform.core.mirror import aggregate as agg
from pyairtable_platform.core.mirror import search as msearch
from pyairtable_platform.core.mirror.service import MirrorService, SyncBusy
from pyairtable_platform.core.search.repository import SearchRepository
from pyairtable_platform.kit.db import unit_of_work
from pyairtable_platform.kit.errors import ValidationFailed


class AirtableMirror(AirtableServiceBase):
    """Aggregates, search and sync over the mirror (see :class:`AirtableService`)."""

    async def aggregate(
        self,
        base_id: str,
        table: str,
        *,
        metrics: list[Metric],
        group_by: Sequence[str] = (),
        filters: Sequence[Filter] = (),
        limit: int = 1000,
    ) -> AggregateResult:
        """Exact aggregates over the whole mirrored table (no Airtable request)."""
        schema, row = await self._mirror_table(base_id, table)
        if row.last_synced_at is None:
            raise MirrorNotReady(
                f"table {schema.name!r} is still being mirrored (its first sync has not "
                "finished); try again shortly or follow GET "
                f"/api/v1/airtable/bases/{base_id}/sync"
            )

        def info(name: str) -> agg.FieldInfo:
            f = self.resolve_field(schema, name)
            return agg.FieldInfo(f.name, f.type, f.options)

        metric_fields = {m.field: info(m.field) for m in metrics if m.field}
        try:
            query = agg.build(
                base_id=base_id,
                table_id=schema.id,
                metrics=metrics,
                group_by=[info(g) for g in group_by],
                filters=[(f, info(f.field)) for f in filters],
                metric_fields={k: v for k, v in metric_fields.items() if k},
                limit=limit,
            )
        except ValueError as exc:
            raise ValidationFailed(str(exc)) from None
        rows = await self.mirror.fetch(query.sql, query.params)
        truncated = len(rows) > limit if group_by else False
        rows = rows[:limit]
        groups = []
        for r in rows:
            key = {label: r[f"g{j}"] for j, label in enumerate(query.group_labels)}
            values = {label: _plain(r[f"m{i}"]) for i, label in enumerate(query.labels)}
            groups.append(AggregateGroup(key=key, values=values))
        if group_by and not truncated:
            total = sum(int(r["n"]) for r in rows)
        elif group_by:
            total = int((await self.mirror.fetch(query.count_sql, query.params))[0]["n"])
        else:
            total = int(rows[0]["n"]) if rows else 0
        return AggregateResult(
            groups=groups,
            total_records=total,
            truncated=truncated,
            freshness=mirror_freshness(row.last_synced_at),
        )

    async def search(
        self,
        query: str,
        *,
        base_id: str | None = None,
        table: str | None = None,
        limit: int = 20,
        include_other: bool = False,
    ) -> SearchResult:
        """Ranked full-text search over mirrored records, fuzzy when nothing matches."""
        q = query.strip()[: msearch.MAX_QUERY_LENGTH]
        if not q:
            raise ValidationFailed("q: give some words to search for")
        table_id = None
        if table is not None:
            if base_id is None:
                raise ValidationFailed("table: give base too (a table name is per base)")
            table_id = (await self._mirror_table(base_id, table))[0].id
        elif base_id is not None and await self.mirror.base(base_id) is None:
            await self._mirror_table(base_id, "")  # raises the listing 404
        params = {
            "q": q,
            "opts": msearch.HEADLINE_OPTIONS,
            "limit": limit,
            "candidates": msearch.RANK_CANDIDATES,
            "base_id": base_id,
            "table_id": table_id,
        }
        rows = await self.mirror.fetch(msearch.FULLTEXT_SQL, params)
        match: Literal["fulltext", "fuzzy"] = "fulltext"
        if not rows:
            match = "fuzzy"
            await self.mirror.set_fuzzy_threshold(msearch.FUZZY_THRESHOLD)
            alternatives = []
            for word in msearch.QUERY_WORD.findall(q.lower())[: msearch.MAX_CORRECTED_WORDS]:
                similar = await self.mirror.similar_words(word)
                if similar:
                    alternatives.append(similar)
            if alternatives:
                tsq = msearch.tsquery_of(alternatives)
                rows = await self.mirror.fetch(msearch.CORRECTED_SQL, {**params, "tsq": tsq})
            if not rows:
                rows = await self.mirror.fetch(msearch.FUZZY_SQL, params)
        hits = []
        for r in rows:
            snippet = r.get("snippet")
            if snippet is None:
                text_ = f"{r['primary_value']} — {r['searchable_text']}"
                snippet = msearch.fuzzy_snippet(q, text_)
            hits.append(
                RecordHit(
                    base_id=r["base_id"],
                    table_id=r["table_id"],
                    table_name=r["table_name"],
                    record_id=r["record_id"],
                    title=r["primary_value"],
                    snippet=snippet,
                    rank=float(r["rank"]),
                    match=match,
                    link=f"https://airtable.com/{r['base_id']}/{r['table_id']}/{r['record_id']}",
                    api_path=(
                        f"/api/v1/airtable/bases/{r['base_id']}/tables/{r['table_id']}"
                        f"/records/{r['record_id']}"
                    ),
                    synced_at=r["synced_at"],
                )
            )
        other: list[OtherHit] = []
        if include_other and base_id is None:
            repo = SearchRepository(self.session)
            for hit in await repo.search(q, sources=("messages", "files"), limit=limit):
                other.append(
                    OtherHit(
                        source=hit.source,
                        id=hit.id,
                        title=hit.title,
                        snippet=hit.snippet,
                        rank=hit.rank,
                        match=hit.match,
                        ref=hit.ref,
                    )
                )
        oldest = min((h.synced_at for h in hits if h.synced_at), default=None)
        return SearchResult(query=q, hits=hits, other=other, freshness=mirror_freshness(oldest))

    async def _registered(self, base_id: str) -> AirtableClient:
        """The base's client, its ``airtable_bases`` row committed: a sync works in
        transactions of its own, which must see the row."""
        async with unit_of_work(
            self.deps.factory, user_id=self.identity.user_id, workspace_id=self.workspace_id
        ) as session:
            other = type(self)(session, self.identity, self.deps, channel=self.channel)
            return await other._client_for(base_id)

    def _mirror_service(self) -> MirrorService:
        return MirrorService(
            self.deps.factory, self.deps.redis, self.deps.mirror, self.workspace_id
        )

    async def sync_status(self, base_id: str) -> SyncStatus:
        """Per-table progress and freshness of a base's mirror."""
        status = await self._mirror_service().status(self.session, base_id)
        if status is None:
            await self._client_for(base_id)  # registers a reachable base, else 404
            status = await self._mirror_service().status(self.session, base_id)
        assert status is not None
        return status

    async def sync(self, base_id: str, *, full: bool = False) -> SyncStatus:
        """Sync now (in transactions of its own; progress is visible while it runs)."""
        client = await self._registered(base_id)
        try:
            await self._mirror_service().sync(client, base_id, full=full)
        except SyncBusy:
            raise SyncInProgress(
                f"base {base_id} is being synced right now; follow its progress with GET "
                f"/api/v1/airtable/bases/{base_id}/sync"
            ) from None
        return await self.sync_status(base_id)

    async def enqueue_sync(self, base_id: str, *, full: bool = False) -> SyncStatus:
        """Queue a durable sync job (procrastinate); answers the status at once."""
        from pyairtable_platform.core.mirror.tasks import defer_sync

        await self._registered(base_id)
        job_id = await defer_sync(self.deps, self.workspace_id, base_id, full=full)
        status = await self.sync_status(base_id)
        status.job_id = job_id
        return status


def _plain(value: Any) -> Any:
    """numeric → int or float for JSON (exact for integers)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
