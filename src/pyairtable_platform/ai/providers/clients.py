"""The OpenAI SDK client behind OpenAI and OpenAI-compatible models, built once per model.

Two per-request costs of the stock setup are paid once here instead:

- **retries**: ``max_retries`` is set on the client. Passed per request (``ModelSettings``),
  pydantic-ai sends each request through a copy of the client (``with_options``), and each
  copy looks up the platform in a worker thread again before its first request.
- **the request body walk**: before sending, the SDK walks the whole body against its
  ``TypedDict`` params (``async_maybe_transform``) to apply field aliases and formats. The chat
  completion params have none, so the walk returns what it was given, yet it visited every
  message and every tool schema of every LLM call: a quarter of the ai service's CPU per chat
  turn (and the typing introspection of the other fields a few percent more). The body fields
  go out in ``extra_body`` (sent as given, merged into the JSON body) instead.
  ``tests/ai/test_provider_clients.py`` checks that the walk is still an identity for a real
  turn's whole bodies, so an SDK that starts aliasing a field fails a test.
- **the JSON body**: serialised with orjson, not the standard library's encoder (the body
  carries every tool schema, ~20 kB, on each call).
- **the HTTP stack**: requests go out through aiohttp (:mod:`kit.aiohttp_transport`), about
  half the CPU of httpx2's own httpcore2/h11/anyio stack per request.
- **streamed chunks**: the SDK builds each chunk with its lenient pure-Python constructor
  (~65 µs a chunk, and a reply streams a chunk per word or two); pydantic's own validation
  builds the same object twenty times faster. A chunk that does not validate (a server off
  the spec) is still built the SDK's lenient way.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, TypeVar, cast

import httpx2
import orjson
from openai import AsyncOpenAI, NotGiven, Omit
from openai._models import FinalRequestOptions
from openai.resources.chat import AsyncChat
from openai.resources.chat.completions import AsyncCompletions
from openai.types.chat import ChatCompletionChunk
from pydantic import BaseModel, ValidationError
from pydantic_ai.models import create_async_httpx2_client

from pyairtable_platform.kit.aiohttp_transport import AiohttpTransport

_T = TypeVar("_T")

# What ``create`` must keep as its own arguments: the model and messages its signature requires
# (the messages go out as given, below), ``stream`` (it chooses how the answer is read) and the
# per-request options that are not body fields. Every other body field is sent as given.
SDK_ARGUMENTS = frozenset(
    {"model", "stream", "extra_headers", "extra_query", "extra_body", "timeout"}
)
CHAT_COMPLETIONS = "/chat/completions"


class _PassThroughCompletions(AsyncCompletions):
    async def create(self, **kwargs: Any) -> Any:
        extra = dict(kwargs.pop("extra_body", None) or {})
        for name in [name for name in kwargs if name not in SDK_ARGUMENTS]:
            value = kwargs.pop(name)
            if not isinstance(value, Omit | NotGiven):
                extra[name] = list(value) if name in ("messages", "tools") else value
        # ``messages`` is required by the signature; the body's own value comes from ``extra``.
        return await super().create(messages=[], extra_body=extra, **kwargs)


class _Chat(AsyncChat):
    @cached_property
    def completions(self) -> AsyncCompletions:
        return _PassThroughCompletions(self._client)


class PassThroughOpenAI(AsyncOpenAI):
    """``AsyncOpenAI`` whose chat completions skip the SDK's request body walk."""

    @cached_property
    def chat(self) -> AsyncChat:
        return _Chat(self)

    def _build_request(
        self, options: FinalRequestOptions, *, retries_taken: int = 0
    ) -> httpx2.Request:
        body = options.json_data
        if (
            options.url == CHAT_COMPLETIONS
            and isinstance(body, Mapping)
            and not options.files
            and options.content is None
        ):
            merged = {
                key: value
                for key, value in {**body, **(options.extra_json or {})}.items()
                if not isinstance(value, Omit)
            }
            encoded = orjson.dumps(merged, default=_json_default, option=orjson.OPT_NON_STR_KEYS)
            # Bytes go out as they are (the SDK's own path for pre-encoded bodies).
            options = options.model_copy(update={"json_data": encoded, "extra_json": None})
        return super()._build_request(options, retries_taken=retries_taken)

    def _process_response_data(
        self, *, data: object, cast_to: type[_T], response: httpx2.Response
    ) -> _T:
        if cast_to is ChatCompletionChunk and isinstance(data, dict):
            try:
                return cast(_T, ChatCompletionChunk.model_validate(data))
            except ValidationError:
                pass  # off the spec: built leniently below, as the SDK always does
        return super()._process_response_data(data=data, cast_to=cast_to, response=response)


def _json_default(value: Any) -> Any:
    # What the SDK's own encoder adds to the standard types (openai/_utils/_json.py).
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True, mode="json", by_alias=True)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def openai_client(*, base_url: str | None, api_key: str, max_retries: int) -> PassThroughOpenAI:
    return PassThroughOpenAI(
        base_url=base_url,
        api_key=api_key,
        max_retries=max_retries,
        http_client=provider_http_client(),
    )


def provider_http_client() -> httpx2.AsyncClient:
    """The HTTP client of an LLM provider's SDK: pydantic-ai's timeouts and user agent, sent
    through aiohttp (as many connections as pydantic-ai's default pool allows)."""
    return create_async_httpx2_client(transport=AiohttpTransport(max_connections=1000))
