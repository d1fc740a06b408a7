"""Budgets per session, user and workspace: the pre-flight check that refuses a turn before
any provider is contacted, and the 80 % / 100 % alerts written after each turn.

What counts is the sum of ``api_usage_logs.cost_usd`` in the budget's current period (the
log is authoritative; the ``spent_usd`` columns are a convenience copy).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from pyairtable_platform.ai.budgets import repository
from pyairtable_platform.ai.budgets.exceptions import BudgetExceeded
from pyairtable_platform.ai.budgets.repository import Budget
from pyairtable_platform.ai.costs import repository as costs


def period_start(period: str, now: datetime | None = None) -> datetime | None:
    """Start of the current period (UTC; weeks start on Monday); ``None`` for whole-life."""
    now = now or datetime.now(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return None  # "total", and "session" (a session budget covers the whole session)


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    spent: Decimal
    period_start: datetime | None

    @property
    def remaining(self) -> Decimal:
        return max(self.budget.limit_usd - self.spent, Decimal(0))


async def _spent(session: AsyncSession, budget: Budget, user_id: uuid.UUID) -> BudgetStatus:
    since = period_start(budget.period)
    amount = await costs.spent(
        session,
        since=since,
        user_id=user_id if budget.type == "user" else None,
        session_id=budget.session_id if budget.type == "session" else None,
    )
    return BudgetStatus(budget, amount, since)


async def statuses(
    session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID | None
) -> list[BudgetStatus]:
    budgets = await repository.applicable(session, user_id=user_id, session_id=session_id)
    return [await _spent(session, budget, user_id) for budget in budgets]


async def preflight(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None,
    estimate: Decimal,
) -> list[BudgetStatus]:
    """Refuse (429 ``budget_exceeded``) when spent + this turn's estimate passes a limit."""
    current = await statuses(session, user_id=user_id, session_id=session_id)
    for status in current:
        if status.spent + estimate > status.budget.limit_usd:
            when = f" since {status.period_start:%Y-%m-%d}" if status.period_start else ""
            raise BudgetExceeded(
                f"the {status.budget.type} budget ({status.budget.period}) of "
                f"${status.budget.limit_usd:.4f} would be exceeded: "
                f"${status.spent:.6f} spent{when}, "
                f"this turn is estimated at ${estimate:.6f}. Raise the budget or wait for "
                "the next period.",
                extra={
                    "budget": {
                        "type": status.budget.type,
                        "id": str(status.budget.id),
                        "period": status.budget.period,
                        "limit_usd": str(status.budget.limit_usd),
                        "spent_usd": str(status.spent),
                        "estimate_usd": str(estimate),
                    }
                },
            )
    return current


async def after_turn(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None,
) -> list[dict[str, str]]:
    """Update counters and write alerts for budgets that crossed their threshold or limit."""
    written: list[dict[str, str]] = []
    for status in await statuses(session, user_id=user_id, session_id=session_id):
        budget = status.budget
        await repository.record_spend(session, budget, status.spent)
        if budget.limit_usd <= 0:
            continue
        ratio = status.spent / budget.limit_usd
        for alert_type, crossed in (
            ("budget_exceeded", ratio >= 1),
            ("threshold_exceeded", ratio >= budget.alert_threshold and ratio < 1),
        ):
            if not crossed:
                continue
            if await repository.alert_exists(session, budget.id, alert_type, status.period_start):
                continue
            percent = (ratio * 100).quantize(Decimal("0.01"))
            message = (
                f"{budget.type} budget at {percent}% (${status.spent:.6f} of "
                f"${budget.limit_usd:.4f}, {budget.period})"
            )
            await repository.insert_alert(
                session,
                workspace_id=workspace_id,
                user_id=user_id,
                session_id=session_id,
                budget=budget,
                alert_type=alert_type,
                percent=percent,
                spent=status.spent,
                message=message,
            )
            written.append({"type": alert_type, "budget": budget.type, "message": message})
    return written
