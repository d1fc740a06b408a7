"""One ``api_usage_logs`` row per upstream Airtable request: the rows match the requests the
client made (its per-base metric), carry the acting user, and cache hits add none."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from pyairtable_platform.devinfra.throwaway import Infra
from tests.core.airtable.conftest import clear_faults, inject
from tests.core.airtable.platform import Platform, World, http, platform_core, world

__all__ = ["http", "platform_core", "world"]


def _upstream_requests(http: httpx.Client, base_id: str) -> int:
    """Upstream requests to one base so far, from the client's Prometheus counter."""
    text = http.get("/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("airtable_upstream_requests_total{") and f'base="{base_id}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def _usage_rows(infra: Infra, base_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(infra.superuser_url.rsplit("/", 1)[0] + "/pap_test") as conn:
        cursor = conn.execute(
            "SELECT service_name, endpoint, status_code, success, latency_ms, user_id,"
            " workspace_id, metadata FROM api_usage_logs"
            " WHERE service_name = 'airtable' AND metadata->>'base_id' = %s"
            " ORDER BY created_at",
            (base_id,),
        )
        names = [c.name for c in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_every_upstream_request_leaves_one_usage_row_and_cache_hits_none(
    http: httpx.Client, world: World, infra: Infra, platform_core: Platform
) -> None:
    base = world.base_id
    path = world.path("/tables/Team/records")
    first = http.get(path, params={"pageSize": 3}, headers=world.headers)
    assert first.status_code == 200, first.text
    made = _upstream_requests(http, base)
    rows = _usage_rows(infra, base)
    assert made >= 1
    assert len(rows) == made
    assert rows[-1]["endpoint"] == "list_records"
    assert rows[-1]["status_code"] == 200
    assert rows[-1]["success"] is True
    assert rows[-1]["latency_ms"] is not None
    assert rows[-1]["metadata"]["base_id"] == base
    assert rows[-1]["metadata"]["connection_id"] == world.connection_id
    assert all(r["user_id"] == world.account.user_id for r in rows)
    assert all(r["workspace_id"] == world.account.workspace_id for r in rows)

    # The same read again is served by the cache: no request, no row.
    again = http.get(path, params={"pageSize": 3}, headers=world.headers)
    assert again.json()["records"] == first.json()["records"]
    assert _upstream_requests(http, base) == made
    assert len(_usage_rows(infra, base)) == made

    # An injected 503 is retried: both requests are rows, the failed one success false.
    token = world.api.api_key
    inject(platform_core.sandbox_url, token, base, status=503, count=1)
    try:
        retried = http.get(path, params={"pageSize": 4}, headers=world.headers)
    finally:
        clear_faults(platform_core.sandbox_url, token, base)
    assert retried.status_code == 200, retried.text
    rows = _usage_rows(infra, base)
    assert len(rows) == _upstream_requests(http, base) == made + 2
    failed, succeeded = rows[-2:]
    assert (failed["status_code"], failed["success"]) == (503, False)
    assert (succeeded["status_code"], succeeded["success"]) == (200, True)
    assert [failed["metadata"]["attempt"], succeeded["metadata"]["attempt"]] == [1, 2]
