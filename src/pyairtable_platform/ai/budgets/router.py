"""Budget endpoints (``/api/v1/budgets``)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Response

from pyairtable_platform.ai.budgets import repository, service
from pyairtable_platform.ai.budgets.schemas import (
    AlertList,
    BudgetList,
    BudgetOut,
    BudgetSet,
    SessionBudgetSet,
)
from pyairtable_platform.ai.db import DbSession
from pyairtable_platform.ai.deps import AdminCaller, CurrentCaller
from pyairtable_platform.ai.sessions import repository as sessions
from pyairtable_platform.kit.errors import NotFound

router = APIRouter(prefix="/api/v1/budgets", tags=["budgets"])


async def _list(db: DbSession, caller: CurrentCaller) -> BudgetList:
    budgets = await repository.list_all(db, user_id=caller.user_id)
    out = []
    for budget in budgets:
        status = await service._spent(db, budget, caller.user_id)
        out.append(
            BudgetOut(
                id=budget.id,
                type=budget.type,
                limit_usd=budget.limit_usd,
                spent_usd=status.spent,
                remaining_usd=status.remaining,
                alert_threshold=budget.alert_threshold,
                period=budget.period,
                period_start=status.period_start,
                session_id=budget.session_id,
                user_id=budget.user_id,
            )
        )
    return BudgetList(budgets=out)


@router.get("", response_model=BudgetList, summary="Budgets that apply to you")
async def list_budgets(db: DbSession, caller: CurrentCaller) -> BudgetList:
    """The workspace budget, your own budget and your sessions' budgets, each with what was
    spent in its current period (UTC days, weeks from Monday, calendar months)."""
    return await _list(db, caller)


@router.put("/workspace", response_model=BudgetList, summary="Set the workspace budget")
async def set_workspace(body: BudgetSet, db: DbSession, caller: AdminCaller) -> BudgetList:
    """Admins: a spending limit for all chats of the workspace per period; alerts at
    ``alert_threshold`` (default 80 %) and 100 %; turns are refused before a call would pass it."""
    await repository.set_workspace(
        db,
        workspace_id=caller.workspace_id,
        limit=body.limit_usd,
        threshold=body.alert_threshold,
        period=body.period,
    )
    return await _list(db, caller)


@router.put("/me", response_model=BudgetList, summary="Set your own budget")
async def set_mine(body: BudgetSet, db: DbSession, caller: CurrentCaller) -> BudgetList:
    """A spending limit for your own chats in this workspace per period."""
    await repository.set_user(
        db,
        workspace_id=caller.workspace_id,
        user_id=caller.user_id,
        limit=body.limit_usd,
        threshold=body.alert_threshold,
        period=body.period,
    )
    return await _list(db, caller)


@router.put("/sessions/{session_id}", response_model=BudgetList, summary="Set a session budget")
async def set_session(
    session_id: uuid.UUID, body: SessionBudgetSet, db: DbSession, caller: CurrentCaller
) -> BudgetList:
    """A spending limit for one of your sessions (whole session, or per period)."""
    if await sessions.get(db, session_id) is None:
        raise NotFound(f"chat session {session_id} not found")
    await repository.set_session(
        db,
        workspace_id=caller.workspace_id,
        session_id=session_id,
        limit=body.limit_usd,
        threshold=body.alert_threshold,
        period=body.period,
    )
    return await _list(db, caller)


@router.delete("/workspace", status_code=204, summary="Remove the workspace budget")
async def delete_workspace(db: DbSession, caller: AdminCaller) -> Response:
    """Admins: no workspace-wide limit any more."""
    if not await repository.deactivate(db, "workspace", user_id=caller.user_id, session_id=None):
        raise NotFound("the workspace has no budget")
    return Response(status_code=204)


@router.delete("/me", status_code=204, summary="Remove your own budget")
async def delete_mine(db: DbSession, caller: CurrentCaller) -> Response:
    """No personal limit any more."""
    if not await repository.deactivate(db, "user", user_id=caller.user_id, session_id=None):
        raise NotFound("you have no budget")
    return Response(status_code=204)


@router.delete("/sessions/{session_id}", status_code=204, summary="Remove a session budget")
async def delete_session(session_id: uuid.UUID, db: DbSession, caller: CurrentCaller) -> Response:
    """No limit for this session any more."""
    if not await repository.deactivate(
        db, "session", user_id=caller.user_id, session_id=session_id
    ):
        raise NotFound("this session has no budget")
    return Response(status_code=204)


@router.get("/alerts", response_model=AlertList, summary="Budget alerts")
async def alerts(
    db: DbSession, caller: CurrentCaller, limit: int = Query(default=50, ge=1, le=500)
) -> AlertList:
    """Alerts written when a budget passed its threshold (80 % by default) or its limit."""
    return AlertList(alerts=await repository.list_alerts(db, limit))
