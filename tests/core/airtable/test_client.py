"""The Airtable client against an upstream stand-in that counts requests and injects
faults: batching, retries only where safe, 429 pauses, error mapping, usage hook."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from pyairtable_platform.core.airtable import UpstreamCall
from pyairtable_platform.core.airtable.exceptions import (
    AirtableInvalidFormula,
    AirtableNotFound,
    AirtableTokenInvalid,
    AirtableUnavailable,
    AirtableUnknownField,
    AirtableWriteUncertain,
)
from tests.core.airtable.conftest import fast_settings, wait_until
from tests.core.airtable.upstream import Fault, Upstream

TABLE = "tblTasks0000000001"
Stand = tuple[Upstream, str]


async def test_twenty_five_creates_go_out_as_three_requests(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    client = make_client(url)
    result = await client.create_records("appA", "Tasks", [{"Name": f"t{i}"} for i in range(25)])
    assert result.ok
    assert len(result.records) == 25
    assert [r["fields"]["Name"] for r in result.records] == [f"t{i}" for i in range(25)]
    assert state.count("POST") == 3
    assert len(state.records[TABLE]) == 25


async def test_an_injected_503_on_a_read_is_retried_and_succeeds(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    state.faults.append(Fault("GET", "/Tasks", status=503))
    page = await make_client(url).list_records_page("appA", "Tasks")
    assert page["records"] == []
    assert state.count("GET", "/Tasks") == 2


async def test_a_read_failing_every_time_ends_as_503_airtable_unavailable(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    state.faults.append(Fault("GET", "/Tasks", status=502, times=100))
    client = make_client(url, fast_settings(max_retries=2))
    with pytest.raises(AirtableUnavailable) as caught:
        await client.list_records_page("appA", "Tasks")
    assert caught.value.status_code == 503
    assert state.count("GET", "/Tasks") == 3


async def test_a_timed_out_create_is_not_resent_and_not_duplicated(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    state.faults.append(Fault("POST", "/Tasks", delay_after_apply=3.0))
    client = make_client(url, fast_settings(read_timeout_seconds=0.5))
    with pytest.raises(AirtableWriteUncertain) as caught:
        await client.create_records("appA", "Tasks", [{"Name": "once"}])
    assert caught.value.status_code == 504
    assert caught.value.attempted == [{"Name": "once"}]
    await wait_until(lambda: state.applied_writes == 1)
    assert state.count("POST") == 1
    assert [r["fields"]["Name"] for r in state.records[TABLE]] == ["once"]


async def test_a_timed_out_update_is_retried_because_it_is_idempotent(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    state.records[TABLE].append({"id": "rec1", "createdTime": "", "fields": {"Name": "a"}})
    state.faults.append(Fault("PATCH", "/Tasks", delay_after_apply=3.0))
    client = make_client(url, fast_settings(read_timeout_seconds=0.5))
    result = await client.update_records("appA", "Tasks", [{"id": "rec1", "fields": {"Name": "b"}}])
    assert result.records[0]["fields"]["Name"] == "b"
    assert state.count("PATCH") == 2


async def test_a_partial_failure_reports_what_succeeded_and_what_was_not_tried(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    client = make_client(url, fast_settings(write_concurrency=1))
    records = [{"Name": f"n{i}"} for i in range(10)] + [{"Stauts": "x"}] + [{"Name": "z"}] * 15
    result = await client.create_records("appA", "Tasks", records)
    assert len(result.records) == 10
    assert [f.index for f in result.failures] == [1]
    assert isinstance(result.failures[0].error, AirtableUnknownField)
    assert len(result.not_attempted) == 6
    assert state.count("POST") == 2


async def test_a_429_pauses_the_base_and_no_request_reaches_it_during_the_pause(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    state.faults.append(Fault("GET", "/Tasks", status=429, body={"errors": "RATE_LIMIT"}))
    client = make_client(url, fast_settings(pause_seconds=2.0))
    page = await client.list_records_page("appA", "Tasks")
    other = await client.list_records_page("appA", "Tasks", view="Grid")
    assert page["records"] == []
    assert other["records"] == []
    first, *rest = [s for s in state.seen if s.path.endswith("/Tasks")]
    assert len(rest) == 2
    assert all(s.at - first.at >= 2.0 for s in rest)


async def test_unknown_field_is_a_422_listing_the_valid_field_names(
    upstream: Stand, make_client: Any
) -> None:
    _, url = upstream
    with pytest.raises(AirtableUnknownField) as caught:
        await make_client(url).create_records("appA", "Tasks", [{"Stauts": "Done"}])
    assert caught.value.status_code == 422
    assert "Stauts" in caught.value.detail
    assert "Name, Status" in caught.value.detail


async def test_an_invalid_formula_is_a_422_with_airtables_reason(
    upstream: Stand, make_client: Any
) -> None:
    _, url = upstream
    with pytest.raises(AirtableInvalidFormula) as caught:
        await make_client(url).list_records_page("appA", "Tasks", formula="BROKEN({Name})")
    assert caught.value.status_code == 422
    assert "Unknown function names: BROKEN" in caught.value.detail


async def test_a_rejected_token_is_424_telling_the_admin_to_reconnect(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    with pytest.raises(AirtableTokenInvalid) as caught:
        await make_client(url, token=state.bad_token).list_records_page("appA", "Tasks")
    assert caught.value.status_code == 424
    assert caught.value.error == "airtable_token_invalid"
    assert "reconnect" in caught.value.detail


async def test_an_unknown_table_is_a_404_naming_it_and_listing_the_tables(
    upstream: Stand, make_client: Any
) -> None:
    _, url = upstream
    with pytest.raises(AirtableNotFound) as caught:
        await make_client(url).list_records_page("appA", "Taks")
    assert caught.value.status_code == 404
    assert "'Taks'" in caught.value.detail
    assert "Tasks (tblTasks0000000001)" in caught.value.detail


async def test_every_upstream_request_is_reported_to_the_usage_hook(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    state.faults.append(Fault("GET", "/Tasks", status=503))
    calls: list[UpstreamCall] = []

    async def record(call: UpstreamCall) -> None:
        calls.append(call)

    client = make_client(url, on_upstream_call=record)
    await client.list_records_page("appA", "Tasks")
    assert [(c.operation, c.base_id, c.status, c.attempt) for c in calls] == [
        ("list_records", "appA", 503, 1),
        ("list_records", "appA", 200, 2),
    ]
    assert all(c.latency_s > 0 for c in calls)


async def test_deletes_and_upserts_are_split_into_requests_of_ten(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    client = make_client(url)
    created = await client.create_records("appA", "Tasks", [{"Name": str(i)} for i in range(12)])
    deleted = await client.delete_records("appA", "Tasks", [r["id"] for r in created.records])
    assert len(deleted.records) == 12
    assert state.count("DELETE") == 2
    assert state.records[TABLE] == []


async def test_reads_while_the_thread_pool_is_full_wait_for_a_thread(
    upstream: Stand, make_client: Any
) -> None:
    state, url = upstream
    state.hold = threading.Event()
    client = make_client(url, fast_settings(threads=1))
    import asyncio

    tasks = [
        asyncio.create_task(client.list_records_page("appA", "Tasks", view=str(i)))
        for i in range(3)
    ]
    await wait_until(lambda: state.count("GET", "/Tasks") == 1)
    state.hold.set()
    await asyncio.gather(*tasks)
    assert state.count("GET", "/Tasks") == 3
