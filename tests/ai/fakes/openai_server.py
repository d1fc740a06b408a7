"""A scripted OpenAI-compatible chat-completions server (the wire format Ollama, vLLM and LM
Studio speak too): streaming and non-streaming answers, tool calls and usage, served over real
HTTP on loopback by :class:`tests.support.servers.ThreadServer`."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.ai.fakes.script import Recorder, Script, Step

_ids = itertools.count(1)


def step_index(messages: list[dict[str, Any]]) -> int:
    """How many assistant messages follow the last user message: the turn's step number."""
    count = 0
    for message in reversed(messages):
        role = message.get("role")
        if role == "user":
            break
        if role == "assistant":
            count += 1
    return count


def _usage(step: Step) -> dict[str, Any]:
    u = step.usage
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.thinking_tokens},
    }


def _tool_calls(step: Step, *, streaming: bool) -> list[dict[str, Any]]:
    calls = []
    for index, tool_call in enumerate(step.tool_calls):
        entry: dict[str, Any] = {
            "id": f"call_{next(_ids)}",
            "type": "function",
            "function": {
                "name": tool_call.name,
                "arguments": orjson.dumps(tool_call.arguments).decode(),
            },
        }
        if streaming:
            entry["index"] = index
        calls.append(entry)
    return calls


def create_openai_app(script: Script, recorder: Recorder) -> Starlette:
    async def completions(request: Request) -> Response:
        body = await request.json()
        recorder.add(body)
        step = script.pick(step_index(body.get("messages", [])))
        if step.error_status is not None:
            return JSONResponse(
                {"error": {"message": step.error_message, "type": "server_error", "code": None}},
                status_code=step.error_status,
            )
        model = body.get("model", "fake-model")
        completion_id = f"chatcmpl-{next(_ids)}"
        created = int(time.time())
        finish = "tool_calls" if step.tool_calls else "stop"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": step.text or None}
            if step.tool_calls:
                message["tool_calls"] = _tool_calls(step, streaming=False)
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": _usage(step),
                }
            )

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            data = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
            return b"data: " + orjson.dumps(data) + b"\n\n"

        async def events() -> AsyncIterator[bytes]:
            yield chunk({"role": "assistant", "content": ""})
            if step.text:
                # Split in words so clients see several deltas, as from a real model.
                words = step.text.split(" ")
                for i, word in enumerate(words):
                    yield chunk({"content": word + (" " if i < len(words) - 1 else "")})
            if step.tool_calls:
                yield chunk({"tool_calls": _tool_calls(step, streaming=True)})
            yield chunk({}, finish)
            usage = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": _usage(step),
            }
            yield b"data: " + orjson.dumps(usage) + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/chat/completions", completions, methods=["POST"]),
        ]
    )
