"""Search over mirrored records, messages and files: ranking, typo tolerance, highlights,
and nothing from another workspace."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.core.search.repository import SearchRepository
from pyairtable_platform.kit.db import create_engine, create_session_factory, unit_of_work
from tests.data.conftest import Database, Tenant, make_tenant


def _record(su: psycopg.Connection[Any], t: Tenant, primary: str, text: str) -> str:
    record_id = f"rec{uuid.uuid4().hex[:12]}"
    su.execute(
        "INSERT INTO airtable_records (workspace_id, base_id, table_id, record_id, fields,"
        " primary_value, searchable_text) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (t.workspace_id, t.base_id, t.table_id, record_id, Jsonb({"Name": primary}), primary, text),
    )
    return record_id


@pytest.fixture(scope="module")
def search_tenants(native_db: Database) -> tuple[Tenant, Tenant]:
    with psycopg.connect(native_db.superuser_url, autocommit=True) as su:
        a, b = make_tenant(su, "S"), make_tenant(su, "T")
        _record(su, a, "Acme Corporation", "industrial anvils and rockets supplier")
        _record(su, a, "Roadrunner Ltd", "customer of Acme, buys anvils in bulk")
        _record(su, a, "Globex", "nuclear power plant equipment")
        _record(su, b, "Acme Secret Plans", "belongs to the other workspace")
        su.execute(
            "INSERT INTO conversation_messages (workspace_id, user_id, session_id, role, content)"
            " VALUES (%s, %s, %s, 'user', 'Which invoices were overdue in March?')",
            (a.workspace_id, a.user_id, a.session_id),
        )
        su.execute(
            "INSERT INTO files (workspace_id, filename, original_filename, mime_type, size_bytes,"
            " sha256, storage_path, extracted_text) VALUES (%s, 'q3.pdf', 'Quarterly report.pdf',"
            " 'application/pdf', 10, 'x', '/x', 'Revenue grew while shipping costs declined.')",
            (a.workspace_id,),
        )
    return a, b


@pytest.fixture
async def session_a(
    native_db: Database, search_tenants: tuple[Tenant, Tenant]
) -> AsyncIterator[AsyncSession]:
    a, _ = search_tenants
    engine = create_engine(native_db.app_url, pool_size=1)
    try:
        factory = create_session_factory(engine)
        async with unit_of_work(factory, user_id=a.user_id, workspace_id=a.workspace_id) as s:
            yield s
    finally:
        await engine.dispose()


async def test_full_text_ranks_a_primary_value_match_above_a_body_match(
    session_a: AsyncSession,
) -> None:
    hits = await SearchRepository(session_a).fulltext("records", "acme")
    assert [h.title for h in hits] == ["Acme Corporation", "Roadrunner Ltd"]
    assert hits[0].rank > hits[1].rank
    assert all(h.match == "fulltext" for h in hits)


async def test_full_text_marks_the_matched_words(session_a: AsyncSession) -> None:
    (hit,) = await SearchRepository(session_a).fulltext("records", "rockets")
    assert "<mark>rockets</mark>" in hit.snippet
    assert hit.ref["record_id"].startswith("rec")


async def test_a_typo_is_found_by_the_fuzzy_fallback(session_a: AsyncSession) -> None:
    repo = SearchRepository(session_a)
    assert await repo.fulltext("records", "Globax") == []
    hits = await repo.search("Globax", sources=("records",))
    assert [(h.title, h.match) for h in hits] == [("Globex", "fuzzy")]


async def test_messages_and_files_are_searched_with_stemming_and_highlights(
    session_a: AsyncSession,
) -> None:
    hits = await SearchRepository(session_a).search("invoice overdue")
    assert [h.source for h in hits] == ["messages"]
    assert "<mark>invoices</mark>" in hits[0].snippet
    files = await SearchRepository(session_a).search("shipping cost", sources=("files",))
    assert [h.title for h in files] == ["Quarterly report.pdf"]
    assert "<mark>shipping</mark>" in files[0].snippet


async def test_another_workspace_records_are_never_found(session_a: AsyncSession) -> None:
    hits = await SearchRepository(session_a).search("secret plans", sources=("records",))
    assert all("Secret" not in h.title for h in hits)


async def test_an_empty_query_finds_nothing(session_a: AsyncSession) -> None:
    assert await SearchRepository(session_a).search("   ") == []
