"""A scripted fake of Anthropic's Messages API (``api.anthropic.com``), the wire format the
``anthropic`` SDK speaks for pydantic-ai's ``AnthropicModel``:

- ``POST /v1/messages`` with the API version in ``anthropic-version`` and the key in
  ``x-api-key`` (the documented header) or ``Authorization: Bearer`` (what the ``anthropic``
  SDK 2.x sends); a request without them is refused with 401 ``authentication_error`` / 400
  ``invalid_request_error`` as the real API does. Which header carried the key is recorded;
- without ``stream`` one ``message`` object; with ``"stream": true`` Server-Sent Events, each
  ``event: <type>`` + ``data: <json>``: ``message_start`` (the message with empty content and
  the input usage), ``ping``, per content block ``content_block_start`` /
  ``content_block_delta`` (``thinking_delta`` + ``signature_delta``, ``text_delta`` split in
  words, ``input_json_delta`` split in pieces) / ``content_block_stop``, then
  ``message_delta`` (``stop_reason`` ``tool_use`` or ``end_turn`` and the cumulative usage)
  and ``message_stop``;
- a fixed thinking budget is checked as Anthropic does (at least 1024, below ``max_tokens``,
  no temperature but 1), and a thinking step answers a ``thinking`` block with a signature;
- tool calls are ``tool_use`` blocks (``toolu_…`` ids); the next request must answer each of
  them with a ``tool_result`` block carrying its id in the following user message, else the
  fake answers 400 ``invalid_request_error`` as Anthropic does;
- errors are ``{"type": "error", "error": {"type", "message"}, "request_id"}`` with the status
  that type has (400 ``invalid_request_error`` … 529 ``overloaded_error``), or, for a step
  scripted ``mid_stream``, an ``error`` event after ``message_start`` in a stream answered 200.

Usage: Anthropic's ``input_tokens`` excludes the prompt cache, which is reported apart as
``cache_read_input_tokens`` and ``cache_creation_input_tokens``; thinking is inside
``output_tokens`` (``output_tokens_details.thinking_tokens`` breaks it out). The script's
:class:`~tests.ai.fakes.script.Usage` counts the cache inside ``input_tokens`` as the platform
stores it, so the fake subtracts it on the wire.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.ai.fakes.script import Recorder, Script, Step

_ids = itertools.count(1)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content or [])


def step_index(messages: list[dict[str, Any]]) -> int:
    """How many assistant messages follow the last user prompt. Tool results travel in user
    messages too, so only a user message with text counts as the prompt."""
    count = 0
    for message in reversed(messages):
        role = message.get("role")
        if role == "user" and any(b.get("type") == "text" for b in _blocks(message)):
            break
        if role == "assistant":
            count += 1
    return count


def tool_result_problem(messages: list[dict[str, Any]], issued: set[str]) -> str | None:
    """What the real API would refuse about the tool round trips of a conversation: every
    ``tool_use`` of an assistant message answered by a ``tool_result`` with its id in the very
    next user message, and no result for an unknown id. Ids this fake never issued are refused
    too (a client inventing or rewriting them would be a bug)."""
    for position, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        uses = [b["id"] for b in _blocks(message) if b.get("type") == "tool_use"]
        if not uses:
            continue
        unknown = [i for i in uses if i not in issued]
        if unknown:
            return f"messages.{position}: tool_use ids {unknown} were not issued by this API"
        following = messages[position + 1] if position + 1 < len(messages) else None
        if following is None:
            return f"messages.{position}: tool_use blocks must be followed by a user message"
        answered = [
            b.get("tool_use_id") for b in _blocks(following) if b.get("type") == "tool_result"
        ]
        missing = [i for i in uses if i not in answered]
        if following.get("role") != "user" or missing:
            return (
                f"messages.{position + 1}: `tool_use` ids were found without `tool_result` "
                f"blocks immediately after: {', '.join(missing)}. Each `tool_use` block must "
                "have a corresponding `tool_result` block in the next message."
            )
        extra = [i for i in answered if i not in uses]
        if extra:
            return (
                f"messages.{position + 1}: unexpected `tool_use_id` found in `tool_result` "
                f"blocks: {', '.join(str(i) for i in extra)}"
            )
    return None


def thinking_problem(body: dict[str, Any]) -> str | None:
    """Anthropic's rules for a fixed thinking budget: at least 1024 tokens, below
    ``max_tokens``, and no temperature other than 1 while thinking."""
    thinking = body.get("thinking") or {}
    if thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens", 0)
    if budget < 1024:
        return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    if budget >= body.get("max_tokens", 0):
        return "`max_tokens` must be greater than `thinking.budget_tokens`"
    if body.get("temperature", 1) != 1:
        return "`temperature` may only be set to 1 when thinking is enabled"
    return None


def wire_usage(step: Step) -> dict[str, Any]:
    """The step's usage as Anthropic reports it: the cache apart from ``input_tokens``."""
    u = step.usage
    usage: dict[str, Any] = {
        "input_tokens": u.input_tokens - u.cached_tokens - u.cache_write_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cached_tokens,
        "output_tokens": u.output_tokens,
    }
    if u.thinking_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": u.thinking_tokens}
    return usage


def _content(step: Step, issued: set[str], lock: threading.Lock) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if step.thinking:
        blocks.append(
            {"type": "thinking", "thinking": step.thinking, "signature": f"sig-{next(_ids)}"}
        )
    if step.text:
        blocks.append({"type": "text", "text": step.text})
    for tool_call in step.tool_calls:
        tool_id = f"toolu_fake{next(_ids):08d}"
        with lock:
            issued.add(tool_id)
        blocks.append(
            {
                "type": "tool_use",
                "id": tool_id,
                "name": tool_call.name,
                "input": tool_call.arguments,
            }
        )
    return blocks


def _error_body(status: int, message: str, request_id: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
        "request_id": request_id,
    }


def _error(status: int, message: str, request_id: str) -> JSONResponse:
    body = _error_body(status, message, request_id)
    return JSONResponse(body, status_code=status, headers={"request-id": request_id})


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind} | data) + b"\n\n"


def _deltas(block: dict[str, Any]) -> list[dict[str, Any]]:
    """A finished content block as the deltas a stream carries it in."""
    if block["type"] == "text":
        words = block["text"].split(" ")
        return [
            {"type": "text_delta", "text": word + (" " if i < len(words) - 1 else "")}
            for i, word in enumerate(words)
        ]
    if block["type"] == "thinking":
        return [
            {"type": "thinking_delta", "thinking": block["thinking"]},
            {"type": "signature_delta", "signature": block["signature"]},
        ]
    # Tool input arrives as JSON text in arbitrary pieces (the first one often empty).
    raw = orjson.dumps(block["input"]).decode()
    middle = len(raw) // 2
    return [
        {"type": "input_json_delta", "partial_json": piece}
        for piece in ("", raw[:middle], raw[middle:])
    ]


def _opening(block: dict[str, Any]) -> dict[str, Any]:
    if block["type"] == "text":
        return {"type": "text", "text": ""}
    if block["type"] == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    return {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}


def create_anthropic_app(script: Script, recorder: Recorder) -> Starlette:
    issued: set[str] = set()
    lock = threading.Lock()

    async def messages(request: Request) -> Response:
        request_id = f"req_fake{next(_ids):08d}"
        body = await request.json()
        api_key, key_header = request.headers.get("x-api-key"), "x-api-key"
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if not api_key and scheme.lower() == "bearer" and token:
            api_key, key_header = token, "authorization"
        version = request.headers.get("anthropic-version")
        recorder.add(
            body
            | {
                "_api_key": api_key,
                "_key_header": key_header if api_key else None,
                "_version": version,
                "_beta": request.headers.get("anthropic-beta"),
                "_query": dict(request.query_params),
            }
        )
        if not api_key:
            return _error(401, "x-api-key header is required", request_id)
        if not version:
            return _error(400, "anthropic-version: header is required", request_id)
        conversation = body.get("messages", [])
        with lock:
            problem = tool_result_problem(conversation, set(issued))
        problem = problem or thinking_problem(body)
        if problem is not None:
            return _error(400, problem, request_id)
        step = script.pick(step_index(conversation))
        if step.error_status is not None and not (step.error_mid_stream and body.get("stream")):
            return _error(step.error_status, step.error_message, request_id)

        model = body.get("model", "claude-fake")
        message_id = f"msg_fake{next(_ids):08d}"
        content = _content(step, issued, lock)
        stop_reason = "tool_use" if step.tool_calls else "end_turn"
        usage = wire_usage(step)
        headers = {"request-id": request_id}
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": content,
                    "stop_reason": stop_reason,
                    "stop_sequence": None,
                    "usage": usage,
                },
                headers=headers,
            )

        async def events() -> AsyncIterator[bytes]:
            # The start carries the input usage and a provisional output count; message_delta
            # carries the final, cumulative counts (clients must replace, not add).
            start_usage = {k: v for k, v in usage.items() if k != "output_tokens_details"}
            yield _sse(
                "message_start",
                {
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage | {"output_tokens": 1},
                    }
                },
            )
            yield _sse("ping", {})
            if step.error_status is not None:
                # Anthropic may fail a stream that already answered 200 (overloaded_error).
                yield _sse("error", _error_body(step.error_status, step.error_message, request_id))
                return
            for index, block in enumerate(content):
                yield _sse(
                    "content_block_start", {"index": index, "content_block": _opening(block)}
                )
                for delta in _deltas(block):
                    yield _sse("content_block_delta", {"index": index, "delta": delta})
                yield _sse("content_block_stop", {"index": index})
            yield _sse(
                "message_delta",
                {"delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": usage},
            )
            yield _sse("message_stop", {})

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])
