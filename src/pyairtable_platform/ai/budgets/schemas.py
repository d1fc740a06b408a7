"""Budgets as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class BudgetSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit_usd: Decimal = Field(ge=0, le=Decimal("1000000"), decimal_places=6)
    period: Literal["daily", "weekly", "monthly", "total"] = "monthly"
    alert_threshold: Decimal = Field(default=Decimal("0.8"), gt=0, le=1, decimal_places=3)


class SessionBudgetSet(BudgetSet):
    period: Literal["session", "daily", "weekly", "monthly"] = "session"  # type: ignore[assignment]


class BudgetOut(BaseModel):
    id: uuid.UUID
    type: Literal["session", "user", "workspace"]
    limit_usd: Decimal
    spent_usd: Decimal
    remaining_usd: Decimal
    alert_threshold: Decimal
    period: str
    period_start: datetime | None
    session_id: uuid.UUID | None
    user_id: uuid.UUID | None


class BudgetList(BaseModel):
    budgets: list[BudgetOut]


class AlertList(BaseModel):
    alerts: list[dict[str, Any]]
