"""A create Airtable never answered is recorded as an ``uncertain`` action (not resent), the
caller hears a 504 naming the action, and reconciliation through the mirror settles it —
whether the records landed or not, and without duplicating any.

Core runs with a 2 s read timeout here, so a sandbox fault of 4 s latency makes the create's
request time out, and a dropped connection loses it. The sandbox applies its faults before it
processes a request (and a request whose client gave up never reaches it), so "it landed but
the answer was lost" is staged as what Airtable then holds: the attempted record, created
after the attempt — made here through pyairtable, behind the platform's back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from pyairtable_platform.core.app import create_app
from pyairtable_platform.devinfra.local import free_port
from pyairtable_platform.devinfra.throwaway import Infra
from tests.core.accounts.helpers import assert_error, settings_for
from tests.core.airtable.conftest import clear_faults, inject
from tests.core.airtable.platform import Platform, World, connect_world
from tests.support.env import environ
from tests.support.servers import ThreadServer

TABLE = "Feedback"


@pytest.fixture(scope="module")
def impatient_core(infra: Infra) -> Iterator[Platform]:
    port = free_port()
    env = {
        "CORE_AIRTABLE_READ_TIMEOUT_SECONDS": "2",
        "CORE_AIRTABLE_RETRY_BACKOFF_SECONDS": "0.01",
    }
    with environ(env):  # AirtableSettings are read when core starts
        settings = settings_for(infra, port=port)
        server = ThreadServer(create_app(settings), port=port).start()
    yield Platform(server, settings)
    server.stop()


@pytest.fixture
def http(impatient_core: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=impatient_core.url, timeout=120) as client:
        yield client


@pytest.fixture
def world(http: httpx.Client, infra: Infra, impatient_core: Platform) -> World:
    world = connect_world(http, infra, impatient_core)
    # The create's plan reads the schema: cached now, so the fault meets only the create.
    assert http.get(world.path("/schema"), headers=world.headers).status_code == 200
    return world


def _named(world: World, summary: str) -> list[dict[str, Any]]:
    formula = f"{{Summary}} = '{summary}'"
    return list(world.api.table(world.base_id, TABLE).all(formula=formula))


def _uncertain_create(
    http: httpx.Client,
    world: World,
    platform: Platform,
    records: list[dict[str, Any]],
    **fault: Any,
) -> dict[str, Any]:
    token = world.api.api_key
    inject(platform.sandbox_url, token, world.base_id, **fault)
    try:
        response = http.post(
            world.path(f"/tables/{TABLE}/records"),
            json={"records": [{"fields": f} for f in records]},
            headers=world.headers,
        )
    finally:
        clear_faults(platform.sandbox_url, token, world.base_id)
    body = assert_error(response, 504, "airtable_write_uncertain")
    assert body["action_id"] in body["detail"]
    assert "reconciled" in body["detail"]
    assert response.headers["x-action-id"] == body["action_id"]
    action = http.get(f"/api/v1/actions/{body['action_id']}", headers=world.headers).json()
    assert action["status"] == "uncertain"
    attempted = action["result"]["uncertain"]["attempted"]
    assert attempted
    assert [a["fields"] for a in attempted] == [records[a["index"]] for a in attempted]
    return action


def _reconciliation_job(infra: Infra, action_id: str) -> tuple[str, dict[str, Any]] | None:
    with psycopg.connect(infra.superuser_url.rsplit("/", 1)[0] + "/pap_test") as conn:
        row = conn.execute(
            "SELECT task_name, args FROM procrastinate_jobs WHERE args->>'action_id' = %s",
            (action_id,),
        ).fetchone()
    return (row[0], row[1]) if row else None


async def _run_job(platform: Platform, infra: Infra, world: World, action_id: str) -> str:
    from pyairtable_platform.core.actions.tasks import run_reconcile
    from pyairtable_platform.core.airtable.deps import build_airtable_deps
    from pyairtable_platform.kit.app import Resources
    from pyairtable_platform.kit.db import create_engine, create_session_factory
    from pyairtable_platform.kit.redis import create_redis

    engine = create_engine(infra.app_url, pool_size=2)
    redis = create_redis(infra.redis_url)
    async with httpx.AsyncClient() as client:
        resources = Resources(
            platform.settings, redis, client, engine, create_session_factory(engine)
        )
        deps = build_airtable_deps(platform.settings, resources)
        try:
            return await run_reconcile(deps, world.account.workspace_id, uuid.UUID(action_id))
        finally:
            await deps.clients.aclose()
            await redis.aclose()
            await engine.dispose()


def test_a_timed_out_create_that_landed_is_reconciled_to_done_without_duplicates(
    http: httpx.Client, world: World, impatient_core: Platform, infra: Infra
) -> None:
    summary = f"landed {uuid.uuid4().hex[:8]}"
    action = _uncertain_create(
        http, world, impatient_core, [{"Summary": summary, "Score": 4}], latencyMs=4000
    )
    assert _named(world, summary) == []
    # Airtable made the record; only its answer was lost.
    landed = world.api.table(world.base_id, TABLE).create({"Summary": summary, "Score": 4})
    job = _reconciliation_job(infra, action["id"])
    assert job is not None
    assert job[0] == "actions:actions.reconcile_uncertain"
    assert job[1]["workspace_id"] == str(world.account.workspace_id)

    settled = http.post(f"/api/v1/actions/{action['id']}/reconcile", headers=world.headers)
    assert settled.status_code == 200, settled.text
    assert settled.json()["status"] == "done"
    assert settled.json()["record_ids"] == [landed["id"]]
    assert settled.json()["result"]["reconciled"]["found"] == [{"index": 0, "id": landed["id"]}]
    assert len(_named(world, summary)) == 1
    # Settled: a revert deletes the record the uncertain create made.
    reverted = http.post(f"/api/v1/actions/{action['id']}/revert", headers=world.headers)
    assert reverted.status_code == 200, reverted.text
    assert _named(world, summary) == []


def test_a_dropped_create_that_did_not_land_is_reconciled_to_failed(
    http: httpx.Client, world: World, impatient_core: Platform, infra: Infra
) -> None:
    summary = f"lost {uuid.uuid4().hex[:8]}"
    records = [{"Summary": summary, "Score": 1}, {"Summary": summary, "Score": 2}]
    action = _uncertain_create(http, world, impatient_core, records, drop=True, count=1)
    assert len(action["result"]["uncertain"]["attempted"]) == 2
    refused = http.post(f"/api/v1/actions/{action['id']}/revert", headers=world.headers)
    assert "reconcile" in assert_error(refused, 409, "revert_refused")["detail"]

    # Settled by the job's body (the worker is off in tests; its job waits in the queue).
    status = asyncio.run(_run_job(impatient_core, infra, world, action["id"]))
    assert status == "failed"
    settled = http.get(f"/api/v1/actions/{action['id']}", headers=world.headers)
    body = settled.json()
    assert body["status"] == "failed"
    assert body["record_ids"] == []
    assert [(f["index"], f["error"]) for f in body["result"]["failed"]] == [
        (0, "not_created"),
        (1, "not_created"),
    ]
    assert _named(world, summary) == []
    # Reconciling again changes nothing.
    again = http.post(f"/api/v1/actions/{action['id']}/reconcile", headers=world.headers)
    assert again.json()["status"] == "failed"


def test_a_create_with_one_lost_chunk_keeps_the_written_chunk_and_settles_partial(
    http: httpx.Client, world: World, impatient_core: Platform
) -> None:
    summary = f"chunks {uuid.uuid4().hex[:8]}"
    records = [{"Summary": summary, "Score": n} for n in range(15)]  # two requests of 10 + 5
    action = _uncertain_create(http, world, impatient_core, records, drop=True, count=1)
    unknown = [a["index"] for a in action["result"]["uncertain"]["attempted"]]
    written = action["record_ids"]
    # One request was lost, the other was answered: its records are known already.
    assert sorted(unknown) in (list(range(10)), list(range(10, 15)))
    assert len(written) == 15 - len(unknown)
    assert {r["id"] for r in _named(world, summary)} == set(written)

    settled = http.post(f"/api/v1/actions/{action['id']}/reconcile", headers=world.headers)
    body = settled.json()
    assert body["status"] == "partially_failed"
    assert body["record_ids"] == written
    assert body["result"]["reconciled"]["not_found"] == unknown
    assert {f["error"] for f in body["result"]["failed"]} == {"not_created"}
    assert len(_named(world, summary)) == len(written)


def test_an_mcp_create_that_timed_out_is_a_tool_error_naming_the_action_and_is_not_resent(
    http: httpx.Client, world: World, impatient_core: Platform
) -> None:
    from tests.core.mcp.conftest import error_text, mcp_client

    summary = f"mcp {uuid.uuid4().hex[:8]}"
    token = world.api.api_key
    credential = world.headers["Authorization"].removeprefix("Bearer ")

    async def call() -> Any:
        async with mcp_client(f"{impatient_core.url}/mcp", credential) as client:
            return await client.call_tool(
                "create_records",
                {"base_id": world.base_id, "table": TABLE, "records": [{"Summary": summary}]},
            )

    inject(impatient_core.sandbox_url, token, world.base_id, latencyMs=4000)
    try:
        answer = asyncio.run(call())
    finally:
        clear_faults(impatient_core.sandbox_url, token, world.base_id)
    message = error_text(answer)
    assert "reconciled" in message
    listed = http.get(
        "/api/v1/actions", params={"status": "uncertain", "channel": "mcp"}, headers=world.headers
    )
    assert listed.status_code == 200, listed.text
    mine = [a for a in listed.json()["actions"] if a["id"] in message]
    assert len(mine) == 1
    assert mine[0]["operation"] == "create"
    assert _named(world, summary) == []
