"""The demo base ("Product Launch") and the command-line token for the demo workspace."""

from __future__ import annotations

import os
import subprocess
import sys

from pyairtable import Api

from pyairtable_platform.core.sandbox.seed import DEMO_BASE_NAME, seed_sandbox_demo
from pyairtable_platform.core.seed import seed_demo
from pyairtable_platform.kit.db import create_engine, create_session_factory
from tests.conftest import Infra


async def test_demo_base_is_created_once(infra: Infra) -> None:
    engine = create_engine(infra.app_url, pool_size=1)
    try:
        factory = create_session_factory(engine)
        workspace_id = (await seed_demo(factory)).workspace_id
        first_id, _ = await seed_sandbox_demo(factory, workspace_id)
        again_id, created = await seed_sandbox_demo(factory, workspace_id)
    finally:
        await engine.dispose()
    assert again_id == first_id
    assert created is False


def test_cli_token_reads_the_demo_base_through_pyairtable(
    infra: Infra, sandbox_url: str, service_env: dict[str, str]
) -> None:
    env = {**os.environ, **service_env}
    subprocess.run(
        [sys.executable, "-m", "pyairtable_platform.cli", "seed"], env=env, check=True, timeout=120
    )
    out = subprocess.run(
        [sys.executable, "-m", "pyairtable_platform.cli", "sandbox", "token"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    token = out.stdout.strip()
    assert token.startswith("pat")
    api = Api(token, endpoint_url=sandbox_url, timeout=(5, 30))
    base = next(b for b in api.bases() if b.name == DEMO_BASE_NAME)
    schema = base.schema()
    assert [t.name for t in schema.tables] == ["Team", "Customers", "Deals", "Tasks", "Feedback"]
    tasks = base.table("Tasks").all()
    assert len(tasks) == 240
    types = {f.type for t in schema.tables for f in t.fields}
    assert {"multipleRecordLinks", "multipleLookupValues", "rollup", "formula"} <= types
    assert {"multipleAttachments", "autoNumber", "createdTime", "rating", "currency"} <= types

    # Links are stored both ways: every task's assignee lists that task back.
    team = {r["id"]: r for r in base.table("Team").all()}
    for task in tasks[:30]:
        for person in task["fields"]["Assignee"]:
            assert task["id"] in team[person]["fields"]["Tasks"]
    deals = base.table("Deals").all(max_records=5)
    assert all("Expected revenue" in d["fields"] for d in deals)
    customers = base.table("Customers").all(formula="{Total deal value} > 0")
    assert customers
