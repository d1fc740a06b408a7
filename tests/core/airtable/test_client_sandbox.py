"""The client against the sandbox Airtable (its 5 req/s per-base limit on, faults
injected through its admin API)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pyairtable_platform.core.airtable import UpstreamCall
from pyairtable_platform.core.airtable.exceptions import (
    AirtableInvalidFormula,
    AirtableNotFound,
    AirtableTokenInvalid,
    AirtableUnknownField,
    AirtableWriteUncertain,
)
from tests.core.airtable.conftest import clear_faults, fast_settings, inject

Sandbox = tuple[str, str, str]


class Calls:
    def __init__(self) -> None:
        self.calls: list[tuple[float, UpstreamCall]] = []

    async def __call__(self, call: UpstreamCall) -> None:
        self.calls.append((time.monotonic(), call))

    def of(self, operation: str) -> list[UpstreamCall]:
        return [c for _, c in self.calls if c.operation == operation]


async def test_twenty_five_creates_are_three_requests_and_all_exist(
    sandbox: Sandbox, make_client: Any
) -> None:
    endpoint, token, base = sandbox
    calls = Calls()
    client = make_client(endpoint, token=token, on_upstream_call=calls)
    result = await client.create_records(base, "Tasks", [{"Name": f"n{i}"} for i in range(25)])
    assert result.ok
    assert len(result.records) == 25
    assert [c.status for c in calls.of("create_records")] == [200, 200, 200]
    assert len(await client.list_records(base, "Tasks")) == 25


async def test_an_injected_503_on_a_read_is_retried_and_succeeds(
    sandbox: Sandbox, make_client: Any
) -> None:
    endpoint, token, base = sandbox
    calls = Calls()
    client = make_client(endpoint, token=token, on_upstream_call=calls)
    inject(endpoint, token, base, status=503, count=1)
    page = await client.list_records_page(base, "Tasks")
    assert page["records"] == []
    assert [c.status for c in calls.of("list_records")] == [503, 200]


async def test_an_injected_429_pauses_the_base_for_the_configured_time(
    sandbox: Sandbox, make_client: Any
) -> None:
    endpoint, token, base = sandbox
    calls = Calls()
    client = make_client(
        endpoint, fast_settings(pause_seconds=2.0), token=token, on_upstream_call=calls
    )
    inject(endpoint, token, base, status=429, count=1)
    await client.list_records_page(base, "Tasks")
    (t429, first), (t200, second) = [(t, c) for t, c in calls.calls]
    assert (first.status, second.status) == (429, 200)
    assert t200 - t429 >= 2.0


async def test_a_create_whose_connection_drops_is_not_resent(
    sandbox: Sandbox, make_client: Any
) -> None:
    endpoint, token, base = sandbox
    calls = Calls()
    client = make_client(endpoint, token=token, on_upstream_call=calls)
    inject(endpoint, token, base, drop=True, count=1)
    with pytest.raises(AirtableWriteUncertain) as caught:
        await client.create_records(base, "Tasks", [{"Name": "dropped"}])
    assert caught.value.attempted == [{"Name": "dropped"}]
    assert len(calls.of("create_records")) == 1
    assert await client.list_records(base, "Tasks") == []


async def test_a_create_that_times_out_is_not_duplicated(
    sandbox: Sandbox, make_client: Any
) -> None:
    endpoint, token, base = sandbox
    calls = Calls()
    settings = fast_settings(read_timeout_seconds=0.5)
    client = make_client(endpoint, settings, token=token, on_upstream_call=calls)
    inject(endpoint, token, base, latencyMs=1500, count=1, ttlSeconds=3)
    with pytest.raises(AirtableWriteUncertain):
        await client.create_records(base, "Tasks", [{"Name": "slow"}])
    assert [c.error for c in calls.of("create_records")] == ["ReadTimeout"]
    clear_faults(endpoint, token, base)  # its latency applies to every request
    # Sent once: whether the sandbox applied it or not, the record exists at most once.
    assert len(await client.list_records(base, "Tasks")) <= 1


async def test_errors_are_mapped_to_actionable_platform_errors(
    sandbox: Sandbox, make_client: Any
) -> None:
    endpoint, token, base = sandbox
    client = make_client(endpoint, token=token)
    with pytest.raises(AirtableUnknownField) as unknown:
        await client.create_records(base, "Tasks", [{"Stauts": "x"}])
    assert "Name, Status" in unknown.value.detail
    with pytest.raises(AirtableInvalidFormula) as formula:
        await client.list_records_page(base, "Tasks", formula="NOPE({Name})")
    assert formula.value.status_code == 422
    with pytest.raises(AirtableNotFound) as missing:
        await client.list_records_page(base, "Taks")
    assert "'Taks'" in missing.value.detail
    assert "Tasks" in missing.value.detail
    with pytest.raises(AirtableTokenInvalid) as token_error:
        await make_client(endpoint, token="pat.revoked").list_records_page(base, "Tasks")
    assert token_error.value.status_code == 424


async def test_a_write_invalidates_cached_pages_so_the_next_read_sees_it(
    sandbox: Sandbox, make_client: Any
) -> None:
    endpoint, token, base = sandbox
    client = make_client(endpoint, token=token)
    assert await client.list_records(base, "Tasks") == []
    created = await client.create_records(base, "Tasks", [{"Name": "a"}])
    assert [r["id"] for r in await client.list_records(base, "Tasks")] == [created.records[0]["id"]]
    await client.update_records(
        base, "Tasks", [{"id": created.records[0]["id"], "fields": {"Name": "b"}}]
    )
    assert (await client.get_record(base, "Tasks", created.records[0]["id"]))["fields"][
        "Name"
    ] == "b"
    await client.delete_records(base, "Tasks", [created.records[0]["id"]])
    assert await client.list_records(base, "Tasks") == []
