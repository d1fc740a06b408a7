"""The read cache: single flight across processes, leader takeover, invalidation."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

from pyairtable_platform.devinfra.throwaway import Infra
from tests.core.airtable.conftest import fast_settings, wait_until
from tests.core.airtable.upstream import Upstream

TABLE = "tblTasks0000000001"
Stand = tuple[Upstream, str]


async def test_twenty_identical_reads_in_two_processes_make_one_upstream_request(
    upstream: Stand, make_client: Any, worker: Any, infra: Infra
) -> None:
    state, url = upstream
    state.records[TABLE].append({"id": "rec1", "createdTime": "", "fields": {"Name": "a"}})
    state.hold = threading.Event()
    connection_id = uuid.uuid4().hex
    other = worker("read", infra.redis_url, url, connection_id, "10")
    assert await other.expect() == "ready"
    client = make_client(url, connection_id=connection_id)
    other.send("go")
    mine = [asyncio.create_task(client.list_records_page("appA", "Tasks")) for _ in range(10)]
    # Both processes have their read in flight while the upstream holds its answer.
    assert await other.expect() == "inflight"
    await wait_until(lambda: bool(client.cache._inflight))
    await wait_until(lambda: state.count("GET", "/Tasks") == 1)
    state.hold.set()
    pages = await asyncio.gather(*mine)
    assert await other.expect() == [1] * 10
    assert [len(p["records"]) for p in pages] == [1] * 10
    assert state.count("GET", "/Tasks") == 1


async def test_when_the_leader_dies_a_waiter_takes_over_after_the_lock_ttl(
    upstream: Stand, make_client: Any, worker: Any, infra: Infra
) -> None:
    state, url = upstream
    state.hold = threading.Event()
    connection_id = uuid.uuid4().hex
    leader = worker("read", infra.redis_url, url, connection_id, "1")
    assert await leader.expect() == "ready"
    leader.send("go")
    await wait_until(lambda: state.count("GET", "/Tasks") == 1)
    client = make_client(
        url, fast_settings(singleflight_lock_ttl_seconds=1.0), connection_id=connection_id
    )
    waiting = asyncio.create_task(client.list_records_page("appA", "Tasks"))
    leader.stop()  # killed while holding the lock, its request unanswered
    await wait_until(lambda: state.count("GET", "/Tasks") == 2)
    state.hold.set()
    page = await waiting
    assert page["records"] == []


async def test_a_write_through_the_client_invalidates_the_tables_cached_pages(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    client = make_client(url)
    assert (await client.list_records_page("appA", "Tasks"))["records"] == []
    assert (await client.list_records_page("appA", "Tasks"))["records"] == []
    assert state.count("GET", "/Tasks") == 1  # the second read was served from cache
    await client.create_records("appA", "Tasks", [{"Name": "new"}])
    page = await client.list_records_page("appA", "Tasks")
    assert [r["fields"]["Name"] for r in page["records"]] == ["new"]
    assert state.count("GET", "/Tasks") == 2


async def test_a_write_by_table_id_invalidates_pages_read_by_table_name(
    upstream: Stand, make_client: Any
) -> None:
    _, url = upstream
    client = make_client(url)
    await client.base_schema("appA")  # the schema knows Tasks = tblTasks0000000001
    await client.list_records_page("appA", "Tasks")
    await client.create_records("appA", TABLE, [{"Name": "by id"}])
    page = await client.list_records_page("appA", "Tasks")
    assert [r["fields"]["Name"] for r in page["records"]] == ["by id"]


async def test_without_a_cached_schema_a_write_invalidates_the_whole_base(
    upstream: Stand, make_client: Any
) -> None:
    _, url = upstream
    client = make_client(url)
    await client.list_records_page("appA", "Tasks")
    await client.create_records("appA", TABLE, [{"Name": "by id"}])
    page = await client.list_records_page("appA", "Tasks")
    assert [r["fields"]["Name"] for r in page["records"]] == ["by id"]


async def test_a_field_change_invalidates_the_cached_schema(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    client = make_client(url)
    await client.base_schema("appA")
    await client.base_schema("appA")
    assert state.count("GET", "/tables") == 1
    state.tables[TABLE]["fields"].append("Due")
    await client.create_field("appA", "Tasks", "Due", "date")
    schema = await client.base_schema("appA")
    names = [f["name"] for f in schema["tables"][0]["fields"]]
    assert names == ["Name", "Status", "Due"]
    assert state.count("GET", "/tables") == 2


async def test_after_a_connection_wide_drop_each_read_misses_once_then_is_cached_again(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    client = make_client(url)
    await client.base_schema("appA")
    await client.list_records_page("appA", "Tasks")
    await client.cache.invalidate()  # moves the connection's epoch: every key changes
    for _ in range(3):
        await client.base_schema("appA")
        await client.list_records_page("appA", "Tasks")
    assert state.count("GET", "/tables") == 2
    assert state.count("GET", "/Tasks") == 2


async def test_identical_reads_in_one_process_share_one_upstream_request(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    state.hold = threading.Event()
    client = make_client(url)
    tasks = [asyncio.create_task(client.list_records_page("appA", "Tasks")) for _ in range(50)]
    await wait_until(lambda: state.count("GET", "/Tasks") == 1)
    state.hold.set()
    await asyncio.gather(*tasks)
    assert state.count("GET", "/Tasks") == 1


async def test_a_failed_read_is_shared_with_its_waiters_instead_of_repeated(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    client = make_client(url)
    results = await asyncio.gather(
        *(client.list_records_page("appA", "Nope") for _ in range(5)), return_exceptions=True
    )
    assert all(getattr(r, "status_code", None) == 404 for r in results)
    assert state.count("GET", "/Nope") == 1
