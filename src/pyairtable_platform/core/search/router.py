"""``GET /api/v1/search``: ranked, fuzzy-tolerant search over the workspace's mirrored
records (and the caller's conversations and the workspace's files)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pyairtable_platform.core.airtable.deps import AirtableDepsDep
from pyairtable_platform.core.airtable.schemas import SearchResult
from pyairtable_platform.core.airtable.service import AirtableService
from pyairtable_platform.core.auth.deps import TenantSession, require_permission
from pyairtable_platform.core.auth.permissions import Action
from pyairtable_platform.kit.auth import Identity

router = APIRouter(prefix="/api/v1", tags=["search"])


@router.get("/search")
async def search(
    *,
    session: TenantSession,
    deps: AirtableDepsDep,
    identity: Annotated[Identity, require_permission(Action.AIRTABLE_READ)],
    q: Annotated[str, Query(min_length=1, max_length=200, description="words to find")],
    base: Annotated[str | None, Query(description="only this base (id)")] = None,
    table: Annotated[
        str | None, Query(description="only this table (id or name; needs base)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchResult:
    """Full text over mirrored records with ``<mark>`` highlights, ranked (primary field
    first), case-insensitive, including lookup, rollup and linked-record values; when no
    word matches, a trigram pass finds typos. Each hit carries its record link and when it
    was synced. Conversations and files come in ``other`` when no base is given."""
    service = AirtableService(session, identity, deps, channel="api")
    return await service.search(q, base_id=base, table=table, limit=limit, include_other=True)
