"""The mirror against the sandbox: initial sync, incremental sync of changes made behind
the platform's back, reconciliation of deletions, write-through, durable jobs."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from pyairtable_platform.core.app import create_app
from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.devinfra.throwaway import Infra
from tests.core.accounts.helpers import settings_for
from tests.core.airtable.platform import (
    Platform,
    World,
    connect_world,
    http,
    platform_core,
    sync,
    wait_for,
    world,
)
from tests.support.env import environ
from tests.support.servers import ThreadServer

__all__ = ["http", "platform_core", "world"]


def _db(infra: Infra) -> str:
    return infra.superuser_url.rsplit("/", 1)[0] + "/pap_test"


def mirrored(infra: Infra, world: World, table_name: str) -> dict[str, dict[str, Any]]:
    """record id -> fields, read straight from the mirror table."""
    with psycopg.connect(_db(infra)) as conn:
        rows = conn.execute(
            "SELECT r.record_id, r.fields FROM airtable_records r JOIN airtable_tables t"
            " ON t.workspace_id = r.workspace_id AND t.base_id = r.base_id"
            " AND t.table_id = r.table_id WHERE r.base_id = %s AND t.name = %s",
            (world.base_id, table_name),
        ).fetchall()
    return dict(rows)


def upstream(world: World, table_name: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r["fields"] for r in world.api.table(world.base_id, table_name).all()}


def test_initial_sync_copies_every_table_with_progress(
    http: httpx.Client, world: World, infra: Infra
) -> None:
    status = sync(http, world)
    by_name = {t["name"]: t for t in status["tables"]}
    assert set(by_name) == {"Team", "Customers", "Deals", "Tasks", "Feedback"}
    for name, table in by_name.items():
        assert table["done"], table
        assert table["synced_at"], table
        assert mirrored(infra, world, name) == upstream(world, name)
        assert table["records"] == len(upstream(world, name))
    assert by_name["Tasks"]["pages_done"] == 3  # 240 records, 100 a page
    got = http.get(world.path("/sync"), headers=world.headers).json()
    assert got["status"] == "ok"
    assert got["last_synced_at"]


def test_changes_behind_the_platforms_back_reach_the_mirror(
    http: httpx.Client, world: World, infra: Infra
) -> None:
    sync(http, world)
    feedback = world.api.table(world.base_id, "Feedback")
    created = feedback.create({"Summary": "Made upstream", "Score": 3})
    some = [r for r in feedback.all(max_records=5, sort=["Summary"]) if r["id"] != created["id"]]
    updated, deleted = some[0], some[1]
    feedback.update(updated["id"], {"Summary": "Edited upstream"})
    feedback.delete(deleted["id"])

    sync(http, world)  # incremental
    mirror = mirrored(infra, world, "Feedback")
    assert mirror[created["id"]]["Summary"] == "Made upstream"
    assert mirror[updated["id"]]["Summary"] == "Edited upstream"
    # LAST_MODIFIED_TIME() cannot report a deletion: incremental sync keeps the record...
    assert deleted["id"] in mirror
    # ...and the full pass (the periodic reconciliation) drops it.
    status = sync(http, world, full=True)
    mirror = mirrored(infra, world, "Feedback")
    assert deleted["id"] not in mirror
    assert mirror == upstream(world, "Feedback")
    assert status["last_reconciled_at"] >= status["last_synced_at"]


def test_renamed_fields_and_new_tables_follow_upstream_schema(
    http: httpx.Client, world: World, infra: Infra
) -> None:
    sync(http, world)
    schema = world.api.base(world.base_id).schema()
    score = schema.table("Feedback").field("Score")
    world.api.request(
        "PATCH",
        world.api.build_url(
            f"meta/bases/{world.base_id}/tables/{schema.table('Feedback').id}/fields/{score.id}"
        ),
        json={"name": "Rating score"},
    )
    sync(http, world)
    mirror = mirrored(infra, world, "Feedback")
    assert all("Score" not in f for f in mirror.values())
    assert mirror == upstream(world, "Feedback")


def test_the_platforms_own_writes_reach_the_mirror_at_once(
    http: httpx.Client, world: World, infra: Infra
) -> None:
    sync(http, world)
    created = http.post(
        world.path("/tables/Customers/records"),
        json={"records": [{"fields": {"Company": "Written Through Ltd"}}]},
        headers=world.headers,
    )
    assert created.status_code == 201, created.text
    rid = created.json()["succeeded"][0]["id"]
    assert mirrored(infra, world, "Customers")[rid]["Company"] == "Written Through Ltd"
    http.patch(
        world.path(f"/tables/Customers/records/{rid}"),
        json={"fields": {"Company": "Renamed Through Ltd"}},
        headers=world.headers,
    )
    assert mirrored(infra, world, "Customers")[rid]["Company"] == "Renamed Through Ltd"
    http.delete(world.path(f"/tables/Customers/records/{rid}"), headers=world.headers)
    assert rid not in mirrored(infra, world, "Customers")


def test_a_queued_sync_job_runs_in_the_worker_inside_core(http: httpx.Client, infra: Infra) -> None:
    port = free_port()
    with environ({"CORE_WITH_WORKER": "true"}):
        server = ThreadServer(create_app(settings_for(infra, port=port)), port=port).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            world = connect_world(client, infra, Platform(server, settings_for(infra, port=port)))
            queued = client.post(world.path("/sync"), json={}, headers=world.headers)
            assert queued.status_code == 202, queued.text
            assert queued.json()["job_id"] is not None

            def done() -> bool:
                body = client.get(world.path("/sync"), headers=world.headers).json()
                return bool(body["status"] == "ok" and body["last_synced_at"])

            wait_for(done, timeout=120)
            assert mirrored(infra, world, "Deals") == upstream(world, "Deals")
    finally:
        server.stop()


def _due(infra: Infra) -> set[tuple[str, str]]:
    """What the periodic scheduler sees: due (workspace, base) pairs, asked as the services'
    role without any tenant context, exactly as the ``mirror.schedule`` job asks."""
    with psycopg.connect(infra.app_url) as conn:
        rows = conn.execute(
            "SELECT workspace_id, base_id FROM mirror_bases_due("
            "make_interval(secs => 3600), make_interval(secs => 86400), 10000)"
        ).fetchall()
        hidden = conn.execute("SELECT count(*) FROM airtable_bases").fetchone()
    assert hidden == (0,)  # the role itself still sees no base without a workspace
    return {(str(w), b) for w, b in rows}


def test_the_scheduler_sees_a_connected_base_until_it_is_synced(
    http: httpx.Client, world: World, infra: Infra
) -> None:
    mine = (str(world.account.workspace_id), world.base_id)
    listed = http.get("/api/v1/airtable/bases", headers=world.headers)  # registers the base
    assert world.base_id in [b["id"] for b in listed.json()]
    assert mine in _due(infra)
    sync(http, world, full=True)
    assert mine not in _due(infra)
