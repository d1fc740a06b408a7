"""The demo "Product Launch" base and a generator of large bases for benchmarks.

Both write through the sandbox's own services and repository (so the stored shape is exactly
what the API writes) inside a transaction carrying the workspace's RLS context.
"""

# Demo data is meant to be repeatable, not secret: a seeded random.Random is right here.
# ruff: noqa: S311

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pyairtable_platform.kit.db import set_tenant_context, unit_of_work

from .ids import new_id
from .meta import MetaService
from .repository import SandboxRepository
from .schema import BaseDef, TableDef

DEMO_BASE_NAME = "Product Launch"
GENERATED_BATCH = 1000

_FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "Edsger",
    "Radia",
    "Tim",
    "Katherine",
    "John",
    "Hedy",
    "Guido",
    "Anita",
    "Bjarne",
    "Sophie",
    "Donald",
]
_LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Berners-Lee",
    "Johnson",
    "McCarthy",
    "Lamarr",
    "van Rossum",
    "Borg",
    "Stroustrup",
    "Wilson",
    "Knuth",
]
_COMPANIES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Aperture",
    "Black Mesa",
    "Vandelay",
    "Pied Piper",
]
_SUFFIX = ["Labs", "Corp", "Systems", "Group", "Industries", "Works"]
_VERBS = [
    "Write",
    "Review",
    "Design",
    "Ship",
    "Test",
    "Plan",
    "Draft",
    "Record",
    "Publish",
    "Localise",
    "Announce",
    "Benchmark",
]
_THINGS = [
    "landing page",
    "press release",
    "pricing table",
    "launch video",
    "onboarding email",
    "FAQ",
    "release notes",
    "demo script",
    "webinar",
    "partner brief",
    "blog post",
    "status page",
    "changelog",
    "app store listing",
]


def _choices(*names: str) -> dict[str, Any]:
    return {"choices": [{"name": n} for n in names]}


def _field(table: TableDef, name: str) -> str:
    item = table.find_field(name)
    assert item is not None, name
    return item.id


class _Builder:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.repo = SandboxRepository(session, workspace_id)
        self.meta = MetaService(self.repo)
        self.rng = random.Random(2026)

    async def tables(self, base: BaseDef) -> None:
        await self.meta.create_table(
            base,
            {
                "name": "Team",
                "fields": [
                    {"name": "Name", "type": "singleLineText"},
                    {"name": "Email", "type": "email"},
                    {
                        "name": "Role",
                        "type": "singleSelect",
                        "options": _choices(
                            "Engineering", "Design", "Marketing", "Sales", "Support"
                        ),
                    },
                    {"name": "Avatar", "type": "multipleAttachments"},
                    {"name": "Active", "type": "checkbox"},
                    {"name": "Start date", "type": "date"},
                ],
            },
        )
        await self.meta.create_table(
            base,
            {
                "name": "Customers",
                "fields": [
                    {"name": "Company", "type": "singleLineText"},
                    {"name": "Website", "type": "url"},
                    {"name": "Phone", "type": "phoneNumber"},
                    {
                        "name": "Industry",
                        "type": "singleSelect",
                        "options": _choices("Retail", "Finance", "Health", "Education", "Media"),
                    },
                    {"name": "Tier", "type": "rating", "options": {"max": 5}},
                    {"name": "Notes", "type": "multilineText"},
                ],
            },
        )
        await self.meta.create_table(
            base,
            {
                "name": "Deals",
                "fields": [
                    {"name": "Deal", "type": "singleLineText"},
                    {
                        "name": "Amount",
                        "type": "currency",
                        "options": {"precision": 2, "symbol": "$"},
                    },
                    {"name": "Probability", "type": "percent", "options": {"precision": 0}},
                    {
                        "name": "Stage",
                        "type": "singleSelect",
                        "options": _choices("Lead", "Qualified", "Proposal", "Won", "Lost"),
                    },
                    {"name": "Close date", "type": "date"},
                ],
            },
        )
        await self.meta.create_table(
            base,
            {
                "name": "Tasks",
                "fields": [
                    {"name": "Task", "type": "singleLineText"},
                    {
                        "name": "Status",
                        "type": "singleSelect",
                        "options": _choices("Todo", "In progress", "Blocked", "Done"),
                    },
                    {
                        "name": "Priority",
                        "type": "singleSelect",
                        "options": _choices("High", "Medium", "Low"),
                    },
                    {
                        "name": "Tags",
                        "type": "multipleSelects",
                        "options": _choices("web", "email", "video", "docs", "legal", "social"),
                    },
                    {"name": "Due", "type": "date"},
                    {"name": "Estimate", "type": "duration", "options": {"durationFormat": "h:mm"}},
                    {"name": "Done", "type": "checkbox"},
                    {"name": "Description", "type": "richText"},
                    {"name": "Attachments", "type": "multipleAttachments"},
                    {"name": "Created", "type": "createdTime"},
                    {"name": "Updated", "type": "lastModifiedTime"},
                    {"name": "ID", "type": "autoNumber"},
                ],
            },
        )
        await self.meta.create_table(
            base,
            {
                "name": "Feedback",
                "fields": [
                    {"name": "Summary", "type": "singleLineText"},
                    {
                        "name": "Sentiment",
                        "type": "singleSelect",
                        "options": _choices("Positive", "Neutral", "Negative"),
                    },
                    {"name": "Score", "type": "number", "options": {"precision": 0}},
                    {"name": "Received", "type": "dateTime"},
                ],
            },
        )
        team, customers, deals, tasks, feedback = base.tables
        link = "multipleRecordLinks"
        await self.meta.create_field(
            base,
            deals.id,
            {"name": "Customer", "type": link, "options": {"linkedTableId": customers.id}},
        )
        await self.meta.create_field(
            base, deals.id, {"name": "Owner", "type": link, "options": {"linkedTableId": team.id}}
        )
        await self.meta.create_field(
            base,
            tasks.id,
            {"name": "Assignee", "type": link, "options": {"linkedTableId": team.id}},
        )
        await self.meta.create_field(
            base,
            feedback.id,
            {"name": "Customer", "type": link, "options": {"linkedTableId": customers.id}},
        )
        await self.meta.create_field(
            base,
            feedback.id,
            {"name": "Related task", "type": link, "options": {"linkedTableId": tasks.id}},
        )
        await self.meta.create_field(
            base,
            deals.id,
            {
                "name": "Expected revenue",
                "type": "formula",
                "options": {
                    "formula": "{Amount} * {Probability}",
                    "result": {"type": "currency", "options": {"precision": 2, "symbol": "$"}},
                },
            },
        )
        await self.meta.create_field(
            base,
            deals.id,
            {
                "name": "Customer industry",
                "type": "multipleLookupValues",
                "options": {
                    "recordLinkFieldId": _field(deals, "Customer"),
                    "fieldIdInLinkedTable": _field(customers, "Industry"),
                },
            },
        )
        await self.meta.create_field(
            base,
            tasks.id,
            {
                "name": "Assignee email",
                "type": "multipleLookupValues",
                "options": {
                    "recordLinkFieldId": _field(tasks, "Assignee"),
                    "fieldIdInLinkedTable": _field(team, "Email"),
                },
            },
        )
        await self.meta.create_field(
            base,
            tasks.id,
            {
                "name": "Overdue",
                "type": "formula",
                "options": {
                    "formula": "AND({Due}, IS_BEFORE({Due}, TODAY()), {Status} != 'Done')",
                    "result": {"type": "number", "options": {"precision": 0}},
                },
            },
        )
        await self.meta.create_field(
            base,
            customers.id,
            {
                "name": "Total deal value",
                "type": "rollup",
                "options": {
                    "recordLinkFieldId": _field(customers, "Deals"),
                    "fieldIdInLinkedTable": _field(deals, "Amount"),
                    "formula": "SUM(values)",
                    "result": {"type": "currency", "options": {"precision": 2, "symbol": "$"}},
                },
            },
        )
        await self.meta.create_field(
            base,
            team.id,
            {
                "name": "Open tasks",
                "type": "count",
                "options": {"recordLinkFieldId": _field(team, "Tasks")},
            },
        )

    async def records(self, base: BaseDef, sizes: dict[str, int]) -> None:
        rng = self.rng
        team, customers, deals, tasks, feedback = base.tables
        ids = {t.id: [new_id("rec") for _ in range(sizes[t.name])] for t in base.tables}
        cells: dict[str, dict[str, Any]] = {rid: {} for rids in ids.values() for rid in rids}
        start = date(2026, 1, 5)

        def link(src: TableDef, name: str, rid: str, targets: list[str]) -> None:
            item = src.find_field(name)
            assert item is not None
            assert item.options is not None
            cells[rid][item.id] = targets
            inverse = item.options["inverseLinkFieldId"]
            for target in targets:
                cells[target].setdefault(inverse, []).append(rid)

        for i, rid_now in enumerate(ids[team.id]):
            first, last = _FIRST[i % 20], _LAST[(i * 7) % 20]
            cells[rid_now].update(
                {
                    _field(team, "Name"): f"{first} {last}",
                    _field(
                        team, "Email"
                    ): f"{first.lower()}.{last.lower().replace(' ', '')}@example.com",
                    _field(team, "Role"): rng.choice(
                        ["Engineering", "Design", "Marketing", "Sales", "Support"]
                    ),
                    _field(team, "Avatar"): [
                        {
                            "id": new_id("att"),
                            "url": f"https://picsum.photos/seed/{i}/200",
                            "filename": f"avatar-{i}.jpg",
                            "type": "image/jpeg",
                        }
                    ],
                    _field(team, "Start date"): (
                        start - timedelta(days=rng.randint(30, 1500))
                    ).isoformat(),
                }
            )
            if rng.random() < 0.85:
                cells[rid_now][_field(team, "Active")] = True
        for i, rid_now in enumerate(ids[customers.id]):
            name = f"{_COMPANIES[i % 15]} {_SUFFIX[(i // 15) % 6]}"
            slug = name.lower().replace(" ", "")
            cells[rid_now].update(
                {
                    _field(customers, "Company"): name,
                    _field(customers, "Website"): f"https://{slug}.example.com",
                    _field(customers, "Phone"): f"+1 555 01{i:02d}",
                    _field(customers, "Industry"): rng.choice(
                        ["Retail", "Finance", "Health", "Education", "Media"]
                    ),
                    _field(customers, "Tier"): rng.randint(1, 5),
                }
            )
            if i % 3 == 0:
                cells[rid_now][_field(customers, "Notes")] = (
                    f"Key account.\nRenewal due Q{i % 4 + 1}."
                )
        for i, rid_now in enumerate(ids[deals.id]):
            stage = rng.choice(["Lead", "Qualified", "Proposal", "Won", "Lost"])
            cells[rid_now].update(
                {
                    _field(deals, "Deal"): f"Deal {i + 1:03d}",
                    _field(deals, "Amount"): round(rng.uniform(500, 60_000), 2),
                    _field(deals, "Probability"): {
                        "Lead": 0.1,
                        "Qualified": 0.3,
                        "Proposal": 0.6,
                        "Won": 1,
                        "Lost": 0,
                    }[stage],
                    _field(deals, "Stage"): stage,
                    _field(deals, "Close date"): (
                        start + timedelta(days=rng.randint(-90, 180))
                    ).isoformat(),
                }
            )
            link(deals, "Customer", rid_now, [rng.choice(ids[customers.id])])
            link(deals, "Owner", rid_now, [rng.choice(ids[team.id])])
        for i, rid_now in enumerate(ids[tasks.id]):
            status = rng.choice(["Todo", "In progress", "Blocked", "Done"])
            cells[rid_now].update(
                {
                    _field(tasks, "Task"): f"{rng.choice(_VERBS)} {rng.choice(_THINGS)}",
                    _field(tasks, "Status"): status,
                    _field(tasks, "Priority"): rng.choice(["High", "Medium", "Low"]),
                    _field(tasks, "Tags"): rng.sample(
                        ["web", "email", "video", "docs", "legal", "social"], rng.randint(0, 3)
                    )
                    or None,
                    _field(tasks, "Due"): (
                        start + timedelta(days=rng.randint(-30, 120))
                    ).isoformat(),
                    _field(tasks, "Estimate"): rng.choice([1800, 3600, 7200, 14400, 28800]),
                    _field(tasks, "Description"): f"**Goal:** launch readiness item {i + 1}.",
                }
            )
            if status == "Done":
                cells[rid_now][_field(tasks, "Done")] = True
            if i % 10 == 0:
                cells[rid_now][_field(tasks, "Attachments")] = [
                    {
                        "id": new_id("att"),
                        "url": f"https://files.example.com/spec-{i}.pdf",
                        "filename": f"spec-{i}.pdf",
                        "type": "application/pdf",
                    }
                ]
            link(tasks, "Assignee", rid_now, rng.sample(ids[team.id], rng.randint(1, 2)))
        for i, rid_now in enumerate(ids[feedback.id]):
            sentiment = rng.choice(["Positive", "Neutral", "Negative"])
            received = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 200_000))
            cells[rid_now].update(
                {
                    _field(feedback, "Summary"): f"{sentiment} feedback #{i + 1}",
                    _field(feedback, "Sentiment"): sentiment,
                    _field(feedback, "Score"): {"Positive": 9, "Neutral": 6, "Negative": 2}[
                        sentiment
                    ]
                    + rng.randint(-1, 1),
                    _field(feedback, "Received"): received.strftime("%Y-%m-%dT%H:%M:00.000Z"),
                }
            )
            link(feedback, "Customer", rid_now, [rng.choice(ids[customers.id])])
            if i % 4 == 0:
                link(feedback, "Related task", rid_now, [rng.choice(ids[tasks.id])])
        for table in base.tables:
            rows = ids[table.id]
            first_number = await self.repo.reserve_auto_numbers(table.id, len(rows))
            await self.repo.insert_records(
                [
                    {
                        "id": rid,
                        "table_id": table.id,
                        "cells": {k: v for k, v in cells[rid].items() if v is not None},
                        "auto_number": first_number + n,
                    }
                    for n, rid in enumerate(rows)
                ]
            )


async def seed_demo_base(session: AsyncSession, workspace_id: uuid.UUID) -> tuple[str, bool]:
    """Create the "Product Launch" base unless the workspace has it: (base id, created)."""
    await set_tenant_context(session, user_id=None, workspace_id=workspace_id)
    builder = _Builder(session, workspace_id)
    existing = await builder.repo.find_base_by_name(DEMO_BASE_NAME)
    if existing is not None:
        return existing, False
    base_id = new_id("app")
    await builder.repo.insert_base(base_id, DEMO_BASE_NAME)
    base = BaseDef(id=base_id, name=DEMO_BASE_NAME)
    await builder.tables(base)
    await builder.records(
        base, {"Team": 20, "Customers": 60, "Deals": 150, "Tasks": 240, "Feedback": 120}
    )
    return base_id, True


async def generate_base(
    session: AsyncSession, workspace_id: uuid.UUID, *, records: int, name: str | None = None
) -> str:
    """A base with one table "Items" of ``records`` records, for benchmarks."""
    await set_tenant_context(session, user_id=None, workspace_id=workspace_id)
    repo = SandboxRepository(session, workspace_id)
    meta = MetaService(repo)
    base_id = new_id("app")
    base_name = name or f"Generated {records} records"
    await repo.insert_base(base_id, base_name)
    base = BaseDef(id=base_id, name=base_name)
    table_json = await meta.create_table(
        base,
        {
            "name": "Items",
            "fields": [
                {"name": "Name", "type": "singleLineText"},
                {"name": "Number", "type": "number", "options": {"precision": 0}},
                {
                    "name": "Category",
                    "type": "singleSelect",
                    "options": _choices("A", "B", "C", "D"),
                },
                {"name": "Flag", "type": "checkbox"},
                {"name": "Date", "type": "date"},
                {"name": "Notes", "type": "multilineText"},
            ],
        },
    )
    table = base.tables[0]
    assert table.id == table_json["id"]
    rng = random.Random(records)
    f = {item.name: item.id for item in table.fields}
    first = await repo.reserve_auto_numbers(table.id, records)
    for start in range(0, records, GENERATED_BATCH):
        batch = []
        for n in range(start, min(records, start + GENERATED_BATCH)):
            cells: dict[str, Any] = {
                f["Name"]: f"Item {n + 1}",
                f["Number"]: n + 1,
                f["Category"]: "ABCD"[n % 4],
                f["Date"]: (date(2026, 1, 1) + timedelta(days=n % 365)).isoformat(),
            }
            if n % 2:
                cells[f["Flag"]] = True
            if n % 5 == 0:
                cells[f["Notes"]] = f"note {rng.randint(1, 1_000_000)}"
            batch.append(
                {
                    "id": new_id("rec"),
                    "table_id": table.id,
                    "cells": cells,
                    "auto_number": first + n,
                }
            )
        await repo.insert_records(batch)
    return base_id


async def seed_sandbox_demo(
    factory: async_sessionmaker[AsyncSession], workspace_id: uuid.UUID
) -> tuple[str, bool]:
    """The demo base for ``workspace_id`` in its own transaction (for ``seed``/``make up``)."""
    async with unit_of_work(factory, workspace_id=workspace_id) as session:
        return await seed_demo_base(session, workspace_id)
