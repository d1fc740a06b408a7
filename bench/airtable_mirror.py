"""Part (c) of bench/airtable.py: search and aggregate latency over a mirrored table.

Loads N records straight into the mirror (``airtable_records``) with one
``INSERT ... SELECT generate_series`` (indexes dropped during the load and rebuilt, as a
bulk load would), then times the service layer (``AirtableService.search`` and
``.aggregate``, the SQL the REST API runs) and prints p50/p95 per query kind.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from typing import Any

import psycopg

from pyairtable_platform.core.airtable.schemas import Filter, Metric
from pyairtable_platform.devinfra.throwaway import Infra

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "apple",
    "banana",
    "cherry",
    "damson",
    "elder",
    "fig",
    "grape",
    "hazel",
    "iris",
    "jasmine",
    "kale",
    "lemon",
    "mango",
    "nectar",
    "olive",
    "peach",
    "quince",
    "raisin",
    "spinach",
    "tomato",
    "ugli",
    "vanilla",
    "walnut",
    "yam",
    "zucchini",
    "launch",
    "budget",
    "campaign",
    "contract",
    "invoice",
    "meeting",
    "onboarding",
    "pipeline",
    "renewal",
    "review",
    "roadmap",
    "sprint",
    "support",
    "ticket",
    "training",
    "upgrade",
    "vendor",
    "webinar",
    "workshop",
    "analytics",
    "billing",
    "design",
    "marketing",
    "partner",
    "pricing",
    "product",
    "research",
    "sales",
    "security",
    "strategy",
]
RARE = "zanzibar"  # in 1 record of every 100,000


def _load(infra: Infra, n: int) -> tuple[uuid.UUID, uuid.UUID, str, str]:
    user_id, workspace_id = uuid.uuid4(), uuid.uuid4()
    base_id, table_id = "appBENCHMIRROR001", "tblBENCHMIRROR001"
    db = infra.superuser_url.rsplit("/", 1)[0] + "/" + infra.app_url.rsplit("/", 1)[1]
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (id, email, password_hash) VALUES (%s, %s, 'x')",
            (user_id, f"bench-{user_id.hex[:8]}@example.com"),
        )
        conn.execute(
            "INSERT INTO workspaces (id, name, slug, created_by) VALUES (%s, 'Bench', %s, %s)",
            (workspace_id, f"bench-{workspace_id.hex[:8]}", user_id),
        )
        conn.execute(
            "INSERT INTO workspace_members (workspace_id, user_id, role) VALUES (%s, %s, 'owner')",
            (workspace_id, user_id),
        )
        cid = conn.execute(
            "INSERT INTO airtable_connections (workspace_id, name, kind)"
            " VALUES (%s, 'b', 'sandbox') RETURNING id",
            (workspace_id,),
        ).fetchone()
        assert cid is not None
        conn.execute(
            "INSERT INTO airtable_bases (workspace_id, connection_id, base_id, name, sync_status,"
            " last_synced_at) VALUES (%s, %s, %s, 'Bench', 'ok', now())",
            (workspace_id, cid[0], base_id),
        )
        conn.execute(
            "INSERT INTO airtable_tables (workspace_id, base_id, table_id, name, primary_field_id,"
            " last_synced_at) VALUES (%s, %s, %s, 'Items', 'fldName', now())",
            (workspace_id, base_id, table_id),
        )
        for pos, (fid, name, ftype, primary) in enumerate(
            [
                ("fldName", "Name", "singleLineText", True),
                ("fldNumber", "Number", "number", False),
                ("fldCategory", "Category", "singleSelect", False),
                ("fldNotes", "Notes", "multilineText", False),
                ("fldRegion", "Region lookup", "multipleLookupValues", False),
            ]
        ):
            conn.execute(
                "INSERT INTO airtable_fields (workspace_id, base_id, table_id, field_id, name,"
                " type, is_primary, position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (workspace_id, base_id, table_id, fid, name, ftype, primary, pos),
            )
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'airtable_records'"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint"
            " WHERE conrelid = 'airtable_records'::regclass)"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        conn.execute(
            """
            INSERT INTO airtable_records (workspace_id, base_id, table_id, record_id, fields,
                primary_value, searchable_text, airtable_created_time, last_modified_time)
            SELECT %(w)s, %(b)s, %(t)s, 'rec' || lpad(to_hex(g), 14, '0'),
                   jsonb_build_object('Name', 'Item ' || g, 'Number', g,
                       'Category', chr(65 + g %% 4), 'Notes', notes,
                       'Region lookup', jsonb_build_array(region)),
                   'Item ' || g, notes || ' ' || region || ' ' || g, now(), now()
            FROM generate_series(1, %(n)s) AS g,
            LATERAL (SELECT
                (%(words)s::text[])[1 + (g * 7) %% %(k)s] || ' ' ||
                (%(words)s::text[])[1 + (g * 13 + 5) %% %(k)s] || ' ' ||
                (%(words)s::text[])[1 + (g * 31 + 11) %% %(k)s] || ' ' ||
                (%(words)s::text[])[1 + (g / 7) %% %(k)s] ||
                CASE WHEN g %% 100000 = 7 THEN ' ' || %(rare)s ELSE '' END AS notes,
                (ARRAY['north', 'south', 'east', 'west'])[1 + g %% 4] AS region) AS x
            """,
            {
                "w": workspace_id,
                "b": base_id,
                "t": table_id,
                "n": n,
                "words": list(WORDS),
                "k": len(WORDS),
                "rare": RARE,
            },
        )
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE airtable_records")
        # The vocabulary the mirror keeps for typo correction (MirrorRepository.add_words).
        conn.execute(
            "INSERT INTO airtable_search_words (workspace_id, word) SELECT DISTINCT %s, w"
            " FROM airtable_records r, unnest(tsvector_to_array(r.search_vector)) AS w"
            " WHERE r.workspace_id = %s AND length(w) BETWEEN 3 AND 40"
            " AND w !~ '^[0-9.,-]+$' ON CONFLICT DO NOTHING",
            (workspace_id, workspace_id),
        )
        rebuilt = time.perf_counter() - started
        print(
            f"loaded {n:,} records in {loaded:.1f} s; indexes, vocabulary and analyze "
            f"{rebuilt:.1f} s"
        )
    return user_id, workspace_id, base_id, table_id


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(
    infra: Infra, user_id: uuid.UUID, workspace_id: uuid.UUID, base_id: str, rounds: int
) -> None:
    from pyairtable_platform.core.airtable.deps import AirtableDeps
    from pyairtable_platform.core.airtable.service import AirtableService
    from pyairtable_platform.kit.auth import Identity
    from pyairtable_platform.kit.db import create_engine, create_session_factory, unit_of_work

    engine = create_engine(infra.app_url, pool_size=2)
    factory = create_session_factory(engine)
    identity = Identity(
        user_id=user_id, workspace_id=workspace_id, role="owner", scope="full", kind="access_token"
    )
    deps: Any = AirtableDeps.__new__(AirtableDeps)  # search and aggregate use only the session
    cases: dict[str, Any] = {
        f"search rare word ({RARE})": lambda s: s.search(RARE, base_id=base_id),
        "search two words (sierra tomato)": lambda s: s.search("sierra tomato", base_id=base_id),
        "search common word (launch, 5 %)": lambda s: s.search("launch", base_id=base_id),
        "search very common word (north, 25 %)": lambda s: s.search("north", base_id=base_id),
        "search word of every title (item)": lambda s: s.search("item", base_id=base_id),
        "search common pair (item north)": lambda s: s.search("item north", base_id=base_id),
        "search typo, fuzzy (zanzibra)": lambda s: s.search("zanzibra", base_id=base_id),
        "aggregate count+sum+avg whole table": lambda s: s.aggregate(
            base_id,
            "Items",
            metrics=[
                Metric(op="count"),
                Metric(op="sum", field="Number"),
                Metric(op="avg", field="Number"),
            ],
        ),
        "aggregate grouped by Category": lambda s: s.aggregate(
            base_id,
            "Items",
            metrics=[Metric(op="count"), Metric(op="max", field="Number")],
            group_by=["Category"],
        ),
        "aggregate filtered (Number < 50000)": lambda s: s.aggregate(
            base_id,
            "Items",
            metrics=[Metric(op="sum", field="Number")],
            filters=[Filter(field="Number", op="lt", value=50000)],
        ),
    }
    try:
        print(f"{'query':<42} {'p50 ms':>8} {'p95 ms':>8}  {'load':>5}  result")
        for label, run in cases.items():
            timings: list[float] = []
            summary = ""
            for i in range(rounds + 2):
                async with unit_of_work(
                    factory, user_id=user_id, workspace_id=workspace_id
                ) as session:
                    service = AirtableService(session, identity, deps)
                    start = time.perf_counter()
                    result = await run(service)
                    elapsed = (time.perf_counter() - start) * 1000
                if i >= 2:  # two warm-up rounds
                    timings.append(elapsed)
                hits = getattr(result, "hits", None)
                summary = (
                    f"{len(hits)} hits ({hits[0].match})"
                    if hits
                    else (
                        "0 hits"
                        if hits is not None
                        else f"{len(result.groups)} groups, {result.total_records:,} records"
                    )
                )
            p50, p95 = statistics.median(timings), _pct(timings, 0.95)
            load = os.getloadavg()[0]
            print(f"{label:<42} {p50:>8.1f} {p95:>8.1f}  {load:>5.2f}  {summary}")
    finally:
        await engine.dispose()


def run(infra: Infra, records: int, rounds: int) -> None:
    user_id, workspace_id, base_id, _ = _load(infra, records)
    asyncio.run(_measure(infra, user_id, workspace_id, base_id, rounds))
