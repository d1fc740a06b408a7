"""A scripted fake of the Gemini API (``generativelanguage.googleapis.com``), the wire format
google-genai speaks for pydantic-ai's ``GoogleModel``:

- ``POST /v1beta/models/{model}:generateContent`` → one ``GenerateContentResponse``;
- ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse`` → the same as SSE chunks
  (``data: {json}``), text split into several chunks, function calls in one, and
  ``usageMetadata`` (cumulative, as Gemini sends it) with the finish reason on the last.

Function calls are ``{"functionCall": {"id", "name", "args"}}`` parts of a ``model`` content;
usage is ``promptTokenCount`` / ``candidatesTokenCount`` / ``cachedContentTokenCount`` /
``thoughtsTokenCount`` — Gemini counts thinking apart from the candidates. The API key arrives
in the ``x-goog-api-key`` header and is recorded, so a test can check which key was used.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.ai.fakes.script import Recorder, Script, Step

_ids = itertools.count(1)


def step_index(contents: list[dict[str, Any]]) -> int:
    """How many ``model`` contents follow the last user prompt. Function responses travel in
    ``user`` contents too, so only a user content with text counts as the prompt."""
    count = 0
    for content in reversed(contents):
        role = content.get("role")
        parts = content.get("parts") or []
        if role == "user" and any("text" in part for part in parts):
            break
        if role == "model":
            count += 1
    return count


def usage_metadata(step: Step) -> dict[str, Any]:
    """Gemini's usage: ``candidatesTokenCount`` excludes thinking, which is reported apart."""
    u = step.usage
    candidates = u.output_tokens - u.thinking_tokens
    metadata: dict[str, Any] = {
        "promptTokenCount": u.input_tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": u.input_tokens + u.output_tokens,
    }
    if u.cached_tokens:
        metadata["cachedContentTokenCount"] = u.cached_tokens
    if u.thinking_tokens:
        metadata["thoughtsTokenCount"] = u.thinking_tokens
    return metadata


def _function_calls(step: Step) -> list[dict[str, Any]]:
    return [
        {"functionCall": {"id": f"fc_{next(_ids)}", "name": c.name, "args": c.arguments}}
        for c in step.tool_calls
    ]


def _response(
    model: str,
    response_id: str,
    parts: list[dict[str, Any]],
    *,
    finish: str | None,
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    body: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": model,
        # One id for every chunk of a stream: google-genai takes a new id for a resumed stream.
        "responseId": response_id,
    }
    if usage is not None:
        body["usageMetadata"] = usage
    return body


def create_gemini_app(script: Script, recorder: Recorder) -> Starlette:
    async def models(request: Request) -> Response:
        target = request.path_params["target"]
        model, _, method = target.partition(":")
        if method not in ("generateContent", "streamGenerateContent"):
            return JSONResponse(
                {
                    "error": {
                        "code": 404,
                        "message": f"unknown method {method!r}",
                        "status": "NOT_FOUND",
                    }
                },
                status_code=404,
            )
        body = await request.json()
        recorder.add(
            body
            | {
                "_model": model,
                "_method": method,
                "_api_key": request.headers.get("x-goog-api-key"),
                "_alt": request.query_params.get("alt"),
            }
        )
        step = script.pick(step_index(body.get("contents", [])))
        if step.error_status is not None:
            return JSONResponse(
                {
                    "error": {
                        "code": step.error_status,
                        "message": step.error_message,
                        "status": "INTERNAL" if step.error_status >= 500 else "INVALID_ARGUMENT",
                    }
                },
                status_code=step.error_status,
            )
        usage = usage_metadata(step)
        response_id = f"resp-{next(_ids)}"
        if method == "generateContent":
            parts: list[dict[str, Any]] = [{"text": step.text}] if step.text else []
            parts += _function_calls(step)
            return JSONResponse(_response(model, response_id, parts, finish="STOP", usage=usage))

        async def chunks() -> AsyncIterator[bytes]:
            pieces: list[list[dict[str, Any]]] = []
            if step.text:
                words = step.text.split(" ")
                pieces += [
                    [{"text": word + (" " if i < len(words) - 1 else "")}]
                    for i, word in enumerate(words)
                ]
            if step.tool_calls:
                pieces.append(_function_calls(step))
            if not pieces:
                pieces.append([{"text": ""}])
            for i, parts in enumerate(pieces):
                last = i == len(pieces) - 1
                # Gemini sends usage so far on every chunk; the final one is the total.
                data = _response(
                    model, response_id, parts, finish="STOP" if last else None, usage=usage
                )
                yield b"data: " + orjson.dumps(data) + b"\r\n\r\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1beta/models/{target:path}", models, methods=["POST"])])
