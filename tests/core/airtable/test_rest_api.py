"""The REST API of Airtable access against the sandbox: connections, reads, writes of any
size with per-record outcomes, cache invalidation, permissions, workspace isolation and
what bad input gets."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg

from pyairtable_platform.devinfra.throwaway import Infra
from tests.core.accounts.helpers import assert_error, register
from tests.core.airtable.platform import (
    Platform,
    World,
    add_member,
    http,
    platform_core,
    sync,
    world,
)

__all__ = ["http", "platform_core", "world"]


def _records(http: httpx.Client, world: World, table: str, **params: Any) -> httpx.Response:
    return http.get(world.path(f"/tables/{table}/records"), params=params, headers=world.headers)


# ----- connections ----------------------------------------------------------------------


def test_connections_list_test_rotate_and_remove(http: httpx.Client, world: World) -> None:
    listed = http.get("/api/v1/airtable/connections", headers=world.headers)
    assert listed.status_code == 200, listed.text
    [conn] = listed.json()
    assert conn["kind"] == "sandbox"
    assert conn["status"] == "active"
    assert conn["token_hint"].startswith("…")
    assert "token" not in conn

    tested = http.post(f"/api/v1/airtable/connections/{conn['id']}/test", headers=world.headers)
    assert tested.status_code == 200
    assert tested.json()["ok"] is True

    rotated = http.post(f"/api/v1/airtable/connections/{conn['id']}/rotate", headers=world.headers)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["token_hint"] != conn["token_hint"]
    # The rotated token works.
    assert _records(http, world, "Team", pageSize=1).status_code == 200

    removed = http.delete(f"/api/v1/airtable/connections/{conn['id']}", headers=world.headers)
    assert removed.status_code == 204
    body = assert_error(_records(http, world, "Team"), 424, "airtable_not_connected")
    assert "POST /api/v1/airtable/connections" in body["detail"]


def test_a_token_airtable_rejects_is_not_stored(http: httpx.Client, world: World) -> None:
    response = http.post(
        "/api/v1/airtable/connections",
        json={"name": "Bad", "kind": "sandbox", "token": "patNOPE00000000000.secret"},
        headers=world.headers,
    )
    body = assert_error(response, 422)
    assert "rejected" in body["detail"]
    names = [
        c["name"] for c in http.get("/api/v1/airtable/connections", headers=world.headers).json()
    ]
    assert names == ["Sandbox"]


def test_a_token_given_by_the_user_is_validated_and_encrypted_at_rest(
    http: httpx.Client, world: World, infra: Infra
) -> None:
    token = world.api.api_key
    response = http.post(
        "/api/v1/airtable/connections",
        json={"name": "Mine", "kind": "sandbox", "token": token},
        headers=world.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["airtable_user_id"].startswith("usr")
    with psycopg.connect(infra.superuser_url.rsplit("/", 1)[0] + "/pap_test") as conn:
        stored = conn.execute(
            "SELECT token_encrypted FROM airtable_connections WHERE id = %s",
            (response.json()["id"],),
        ).fetchone()
    assert stored is not None
    assert token not in stored[0]


# ----- reads, writes, cache -------------------------------------------------------------


def test_writes_of_any_size_report_each_record(http: httpx.Client, world: World) -> None:
    records = [{"fields": {"Name": f"Bulk {n}", "Email": f"b{n}@example.com"}} for n in range(23)]
    created = http.post(
        world.path("/tables/Team/records"), json={"records": records}, headers=world.headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert len(body["succeeded"]) == 23
    assert body["failed"] == []
    ids = [r["id"] for r in body["succeeded"]]

    # The third chunk (records 20..22) names an unknown field: the first two chunks are
    # written, the rest is reported per record.
    updates = [{"id": i, "fields": {"Name": f"Renamed {n}"}} for n, i in enumerate(ids)]
    updates[21]["fields"] = {"Nmae": "typo"}
    patched = http.patch(
        world.path("/tables/Team/records"), json={"records": updates}, headers=world.headers
    )
    assert patched.status_code == 207, patched.text
    outcome = patched.json()
    assert len(outcome["succeeded"]) == 20
    assert [f["index"] for f in outcome["failed"]] == [20, 21, 22]
    assert {f["error"] for f in outcome["failed"]} == {"airtable_unknown_field"}
    assert outcome["failed"][1]["id"] == ids[21]

    deleted = http.post(
        world.path("/tables/Team/records/delete"), json={"ids": ids}, headers=world.headers
    )
    assert deleted.status_code == 200, deleted.text
    assert len(deleted.json()["succeeded"]) == 23


def test_upsert_replace_and_single_record_routes(http: httpx.Client, world: World) -> None:
    body: dict[str, Any] = {
        "records": [{"fields": {"Name": "Upsert A", "Email": "ua@example.com"}}],
        "fieldsToMergeOn": ["Email"],
    }
    first = http.post(world.path("/tables/Team/records/upsert"), json=body, headers=world.headers)
    assert first.status_code == 200, first.text
    assert len(first.json()["created_ids"]) == 1
    body["records"][0]["fields"]["Name"] = "Upsert B"
    second = http.post(world.path("/tables/Team/records/upsert"), json=body, headers=world.headers)
    assert second.json()["updated_ids"] == first.json()["created_ids"]
    rid = second.json()["updated_ids"][0]

    put = http.put(
        world.path(f"/tables/Team/records/{rid}"),
        json={"fields": {"Name": "Only"}},
        headers=world.headers,
    )
    assert put.status_code == 200, put.text
    assert "Email" not in put.json()["fields"]
    got = http.get(world.path(f"/tables/Team/records/{rid}"), headers=world.headers)
    assert got.json()["fields"]["Name"] == "Only"
    gone = http.delete(world.path(f"/tables/Team/records/{rid}"), headers=world.headers)
    assert gone.status_code == 200
    assert gone.json()["deleted"] is True


def test_a_write_through_the_platform_invalidates_the_cached_pages(
    http: httpx.Client, world: World
) -> None:
    team = world.api.table(world.base_id, "Team")
    first = team.first(sort=["Name"])
    assert first is not None
    params = {"pageSize": 5, "sort": "Name"}
    before = _records(http, world, "Team", **params).json()["records"]
    # Changed behind the platform's back: the cached page still answers (that is the cache).
    team.update(first["id"], {"Email": "behind@example.com"})
    cached = _records(http, world, "Team", **params).json()["records"]
    assert cached == before
    # A write through the platform makes every cached page of the table stale.
    patched = http.patch(
        world.path(f"/tables/Team/records/{first['id']}"),
        json={"fields": {"Active": True}},
        headers=world.headers,
    )
    assert patched.status_code == 200, patched.text
    after = {r["id"]: r for r in _records(http, world, "Team", **params).json()["records"]}
    assert after[first["id"]]["fields"]["Email"] == "behind@example.com"
    assert after[first["id"]]["fields"]["Active"] is True


def test_records_page_carries_the_exact_total_from_the_mirror(
    http: httpx.Client, world: World
) -> None:
    sync(http, world)
    page = _records(http, world, "Tasks", pageSize=10).json()
    assert len(page["records"]) == 10
    assert page["total"] == len(world.api.table(world.base_id, "Tasks").all())
    assert page["truncated"] is True
    assert page["offset"]
    filtered = _records(http, world, "Tasks", filterByFormula="{Status}='Done'").json()
    assert filtered["total"] is None


def test_linked_records_expand_from_the_mirror(http: httpx.Client, world: World) -> None:
    sync(http, world)
    deal = world.api.table(world.base_id, "Deals").first(formula="{Customer} != ''")
    assert deal is not None
    response = http.get(
        world.path(f"/tables/Deals/records/{deal['id']}"),
        params={"expand": "links"},
        headers=world.headers,
    )
    assert response.status_code == 200, response.text
    [customer] = response.json()["fields"]["Customer"]
    expected = world.api.table(world.base_id, "Customers").get(deal["fields"]["Customer"][0])
    assert customer["id"] == expected["id"]
    assert customer["name"] == expected["fields"]["Company"]
    assert customer["fields"]["Company"] == expected["fields"]["Company"]


def test_comments_attachments_tables_and_fields(http: httpx.Client, world: World) -> None:
    task = world.api.table(world.base_id, "Tasks").first()
    assert task is not None
    path = world.path(f"/tables/Tasks/records/{task['id']}")
    comment = http.post(path + "/comments", json={"text": "Looks good"}, headers=world.headers)
    assert comment.status_code == 201, comment.text
    comments = http.get(path + "/comments", headers=world.headers).json()
    assert [c["text"] for c in comments] == ["Looks good"]

    before = len(task["fields"].get("Attachments", []))
    attached = http.post(
        path + "/attachments",
        json={"field": "Attachments", "attachments": [{"url": "https://files.example.com/x.png"}]},
        headers=world.headers,
    )
    assert attached.status_code == 200, attached.text
    urls = [a["url"] for a in attached.json()["fields"]["Attachments"]]
    assert len(urls) == before + 1
    assert urls[-1] == "https://files.example.com/x.png"

    table = http.post(
        world.path("/tables"),
        json={"name": "Risks", "fields": [{"name": "Risk", "type": "singleLineText"}]},
        headers=world.headers,
    )
    assert table.status_code == 201, table.text
    field = http.post(
        world.path("/tables/Risks/fields"),
        json={"name": "Impact", "type": "number", "options": {"precision": 0}},
        headers=world.headers,
    )
    assert field.status_code == 201, field.text
    renamed = http.patch(
        world.path(f"/tables/Risks/fields/{field.json()['id']}"),
        json={"name": "Severity"},
        headers=world.headers,
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Severity"
    schema = http.get(world.path("/schema"), headers=world.headers).json()
    risks = next(t for t in schema["tables"] if t["name"] == "Risks")
    assert [f["name"] for f in risks["fields"]] == ["Risk", "Severity"]

    invalidated = http.post(
        "/api/v1/airtable/cache/invalidate", params={"base": world.base_id}, headers=world.headers
    )
    assert invalidated.status_code == 204


# ----- permissions and isolation --------------------------------------------------------


def test_a_viewer_reads_but_cannot_write(http: httpx.Client, world: World) -> None:
    viewer = add_member(http, world, "viewer")
    assert http.get(world.path("/schema"), headers=viewer).status_code == 200
    write = http.post(
        world.path("/tables/Team/records"),
        json={"records": [{"fields": {"Name": "Nope"}}]},
        headers=viewer,
    )
    assert_error(write, 403, "forbidden")
    assert_error(http.post(world.path("/sync"), json={}, headers=viewer), 403)
    assert_error(
        http.post(
            "/api/v1/airtable/connections", json={"kind": "sandbox", "name": "X"}, headers=viewer
        ),
        403,
    )
    member = add_member(http, world, "member")
    ok = http.post(
        world.path("/tables/Team/records"),
        json={"records": [{"fields": {"Name": "Member wrote"}}]},
        headers=member,
    )
    assert ok.status_code == 201, ok.text
    # Schema changes are for owners and admins.
    assert_error(
        http.post(
            world.path("/tables"),
            json={"name": "T", "fields": [{"name": "A", "type": "singleLineText"}]},
            headers=member,
        ),
        403,
    )


def test_another_workspace_sees_no_base_and_no_connection(http: httpx.Client, world: World) -> None:
    stranger = register(http)
    assert http.get("/api/v1/airtable/connections", headers=stranger.headers).json() == []
    schema = http.get(world.path("/schema"), headers=stranger.headers)
    assert_error(schema, 424, "airtable_not_connected")
    http.post(
        "/api/v1/airtable/connections",
        json={"name": "Sandbox", "kind": "sandbox"},
        headers=stranger.headers,
    )
    assert_error(http.get(world.path("/schema"), headers=stranger.headers), 404, "base_not_found")
    assert_error(
        http.get(world.path("/tables/Team/records"), headers=stranger.headers),
        404,
        "base_not_found",
    )
    foreign = http.post(
        f"/api/v1/airtable/connections/{world.connection_id}/test", headers=stranger.headers
    )
    assert_error(foreign, 404, "connection_not_found")
    search = http.get("/api/v1/search", params={"q": "launch"}, headers=stranger.headers)
    assert search.status_code == 200
    assert search.json()["hits"] == []


# ----- bad input ------------------------------------------------------------------------


def test_unknown_names_get_the_valid_ones(http: httpx.Client, world: World) -> None:
    table = assert_error(_records(http, world, "Taks"), 404, "table_not_found")
    assert "Tasks" in table["detail"]
    assert "Deals" in table["detail"]
    field = assert_error(_records(http, world, "Tasks", sort="Stauts"), 422, "unknown_field")
    assert "Status" in field["detail"]
    base = assert_error(
        http.get("/api/v1/airtable/bases/appXXXXXXXXXXXXXX/schema", headers=world.headers), 404
    )
    assert "Product Launch" in base["detail"]
    record = http.get(world.path("/tables/Tasks/records/recXXXXXXXXXXXXXX"), headers=world.headers)
    assert_error(record, 404, "airtable_not_found")


def test_an_invalid_formula_gets_airtables_reason(http: httpx.Client, world: World) -> None:
    body = assert_error(
        _records(http, world, "Tasks", filterByFormula="NOPE({Status})"),
        422,
        "airtable_invalid_formula",
    )
    assert "NOPE" in body["detail"]


def test_a_revoked_token_asks_an_admin_to_reconnect(
    http: httpx.Client, world: World, infra: Infra
) -> None:
    with psycopg.connect(infra.superuser_url.rsplit("/", 1)[0] + "/pap_test") as conn:
        conn.execute(
            "UPDATE sandbox.tokens SET revoked_at = now() WHERE id = ("
            " SELECT (metadata ->> 'sandbox_token_id')::uuid FROM airtable_connections"
            " WHERE id = %s)",
            (world.connection_id,),
        )
    body = assert_error(_records(http, world, "Tasks"), 424, "airtable_token_invalid")
    assert "reconnect" in body["detail"]
    [conn] = http.get("/api/v1/airtable/connections", headers=world.headers).json()
    assert conn["status"] == "invalid"


def test_airtable_down_is_503_while_the_mirror_still_answers(
    http: httpx.Client, world: World, platform_core: Platform
) -> None:
    sync(http, world)
    fault = httpx.post(
        f"{platform_core.sandbox_url}/_faults",
        json={"scope": "base", "baseId": world.base_id, "status": 503},
        headers={"Authorization": f"Bearer {world.api.api_key}"},
    )
    assert fault.status_code in (200, 201, 204), fault.text
    try:
        http.post(
            "/api/v1/airtable/cache/invalidate",
            params={"base": world.base_id},
            headers=world.headers,
        )
        assert_error(_records(http, world, "Deals"), 503, "airtable_unavailable")
        aggregate = http.post(
            world.path("/tables/Deals/aggregate"),
            json={"metrics": [{"op": "count"}]},
            headers=world.headers,
        )
        assert aggregate.status_code == 200, aggregate.text
        freshness = aggregate.json()["freshness"]
        assert freshness["source"] == "mirror"
        assert freshness["age_seconds"] >= 0
        search = http.get(
            "/api/v1/search", params={"q": "launch", "base": world.base_id}, headers=world.headers
        )
        assert search.status_code == 200, search.text
        assert search.json()["freshness"]["source"] == "mirror"
    finally:
        httpx.delete(
            f"{platform_core.sandbox_url}/_faults",
            params={"baseId": world.base_id},
            headers={"Authorization": f"Bearer {world.api.api_key}"},
        )


def test_malformed_bodies_are_422_not_500(http: httpx.Client, world: World) -> None:
    assert_error(
        http.post(world.path("/tables/Team/records"), json={"records": []}, headers=world.headers),
        422,
    )
    assert_error(
        http.post(
            world.path("/tables/Team/records/delete"), json={"ids": ["nope"]}, headers=world.headers
        ),
        422,
    )
    assert_error(
        http.post(f"/api/v1/airtable/connections/{uuid.uuid4()}/test", headers=world.headers), 404
    )


def test_the_demo_seed_connects_the_workspace_to_its_sandbox_once(
    http: httpx.Client, infra: Infra, platform_core: Platform
) -> None:
    import asyncio

    from pyairtable_platform.core.airtable.connections import ensure_sandbox_connection
    from pyairtable_platform.kit.db import create_engine, create_session_factory
    from tests.core.airtable.platform import seed_demo_base

    account = register(http)
    base_id = seed_demo_base(infra, account.workspace_id)

    async def seed() -> tuple[uuid.UUID, bool]:
        engine = create_engine(infra.app_url, pool_size=1)
        try:
            return await ensure_sandbox_connection(
                create_session_factory(engine),
                platform_core.settings.secret_box(),
                account.workspace_id,
                account.user_id,
                base=(base_id, "Product Launch"),
            )
        finally:
            await engine.dispose()

    first, created = asyncio.run(seed())
    again, created_again = asyncio.run(seed())
    assert created is True
    assert created_again is False
    assert first == again
    bases = http.get("/api/v1/airtable/bases", headers=account.headers)
    assert bases.status_code == 200, bases.text
    assert [b["name"] for b in bases.json()] == ["Product Launch"]
