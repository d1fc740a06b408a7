"""Chat endpoints: a turn (SSE or JSON), approvals of proposed writes, and undo."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from starlette.responses import StreamingResponse

from pyairtable_platform.ai.chat.runner import TurnHandle
from pyairtable_platform.ai.chat.schemas import (
    ApprovalDecision,
    ChatAnswer,
    ChatRequest,
    RevertAnswer,
)
from pyairtable_platform.ai.chat.service import ChatService, TurnSetup, answer
from pyairtable_platform.ai.deps import CurrentCaller, StateDep
from pyairtable_platform.ai.state import AiState

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])


def _respond(state: AiState, setup: TurnSetup, stream: bool) -> Any:
    service = ChatService(state)
    handle = TurnHandle()
    state.runner.spawn(service.run(setup, handle), handle)
    if stream:
        return StreamingResponse(
            handle.stream(),
            media_type="text/event-stream",
            headers={
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                "X-Chat-Session": str(setup.session_id),
            },
        )
    return _wait(setup, handle)


async def _wait(setup: TurnSetup, handle: TurnHandle) -> ChatAnswer:
    await handle.done.wait()
    return answer(setup.session_id, setup.turn_id, handle)


@router.post(
    "",
    response_model=ChatAnswer,
    summary="Send a chat message",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat(body: ChatRequest, caller: CurrentCaller, state: StateDep) -> Any:
    """One turn of a conversation with the assistant, which uses the platform's MCP tools as the
    calling user. Without ``session_id`` a new session starts (its id is in the answer). With
    ``stream: true`` the answer is Server-Sent Events: ``message_start``, ``text_delta``,
    ``tool_call``, ``tool_result``, ``approval_required``, ``usage``, ``error``, ``message_end``.
    A client that disconnects loses nothing: the turn finishes and is stored. Refused with 429
    ``budget_exceeded`` before the provider is contacted when a budget would be passed, 503
    ``llm_not_configured`` when no provider is set up, 409 while a proposed write awaits a
    decision."""
    setup = await ChatService(state).start(caller, body)
    result = _respond(state, setup, body.stream)
    if body.stream:
        return result
    return await result


async def _approval(
    session_id: uuid.UUID,
    action_id: str,
    body: ApprovalDecision,
    caller: CurrentCaller,
    state: StateDep,
) -> Any:
    setup, approval = await ChatService(state).decide(caller, session_id, action_id, body)
    if setup is None:
        return ChatAnswer(
            session_id=session_id,
            turn_id=approval["turn_id"],
            message_id=None,
            status="waiting",
            text="",
            tool_calls=[],
            approvals=[],
            usage={},
            errors=[],
        )
    result = _respond(state, setup, body.stream)
    if body.stream:
        return result
    return await result


@router.post(
    "/sessions/{session_id}/approvals/{action_id}",
    response_model=ChatAnswer,
    summary="Approve or reject a proposed write",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def decide_approval(
    session_id: uuid.UUID,
    action_id: str,
    body: ApprovalDecision,
    caller: CurrentCaller,
    state: StateDep,
) -> Any:
    """Approve (the write runs, as the user) or reject a write the model proposed; the same
    turn then continues, streamed when ``stream: true``. While other writes of that turn
    still wait, the answer has status ``waiting``."""
    return await _approval(session_id, action_id, body, caller, state)


@router.post(
    "/{session_id}/approvals/{action_id}",
    response_model=ChatAnswer,
    summary="Approve or reject a proposed write (short path)",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def decide_approval_short(
    session_id: uuid.UUID,
    action_id: str,
    body: ApprovalDecision,
    caller: CurrentCaller,
    state: StateDep,
) -> Any:
    """Same as ``POST /api/v1/chat/sessions/{session_id}/approvals/{action_id}``."""
    return await _approval(session_id, action_id, body, caller, state)


@router.post(
    "/sessions/{session_id}/actions/{action_id}/revert",
    response_model=RevertAnswer,
    summary="Undo a write made from this chat",
)
async def revert(
    session_id: uuid.UUID, action_id: str, caller: CurrentCaller, state: StateDep
) -> RevertAnswer:
    """Revert an applied write through core's ``revert_action`` (as the user). Refused with
    409 when the records changed since, or the action was never applied."""
    result = await ChatService(state).revert(caller, session_id, action_id)
    return RevertAnswer(action_id=action_id, status="reverted", result=result)
